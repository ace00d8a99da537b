from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.jobs import rule_context
from mnistflow.train import pick_device
from mnistflow.transfer import FitConfig, ValidationShare, load_features, load_source, parse_budget, run_strategy

with rule_context(snakemake) as log:
    settings = snakemake.params.settings
    source = load_source(snakemake.wildcards.source, snakemake.input.source, **snakemake.params.source)
    features = load_features(snakemake.input.features) if snakemake.input.features else None
    results = run_strategy(
        snakemake.wildcards.strategy, source, load_dataset(snakemake.input.dataset),
        budgets=[parse_budget(b) for b in settings["budgets"]], seeds=settings["seeds"],
        config=FitConfig(**settings["fit"]), validation=ValidationShare(**settings["validation"]),
        lr_factors=tuple(settings["lr_factors"]), features=features,
        device=pick_device(), log=log.info)
    atomic.save_csv(snakemake.output[0], results)
