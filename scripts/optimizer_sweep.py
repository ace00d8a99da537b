from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.optimizers import pick_learning_rate, run_sweep
from mnistflow.jobs import rule_context
from mnistflow.train import pick_device

with rule_context(snakemake) as log:
    sweep = run_sweep(load_dataset(snakemake.input.dataset), snakemake.wildcards.optimizer,
                      snakemake.params.settings, pick_device(), log.info)
    log.info("\n%s\npicked lr %g", sweep.to_string(index=False), pick_learning_rate(sweep))
    atomic.save_csv(snakemake.output[0], sweep)
