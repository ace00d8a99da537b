from mnistflow.datasets import load_dataset
from mnistflow.jobs import rule_context
from mnistflow.train import pick_device
from mnistflow.transfer import load_source, save_features

with rule_context(snakemake) as log:
    source = load_source(snakemake.wildcards.source, snakemake.input.source, **snakemake.params.source)
    target = load_dataset(snakemake.input.dataset)
    save_features(snakemake.output[0], source, target, pick_device(), log.info)
