import pandas as pd

from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.optimizers import pick_learning_rate, run_seeds
from mnistflow.jobs import rule_context
from mnistflow.train import pick_device

with rule_context(snakemake) as log:
    lr = pick_learning_rate(pd.read_csv(snakemake.input.sweep[0])) if snakemake.input.sweep else None
    runs = run_seeds(load_dataset(snakemake.input.dataset), snakemake.wildcards.optimizer,
                     snakemake.wildcards.protocol, snakemake.params.settings, lr, pick_device(), log.info)
    atomic.save_csv(snakemake.output[0], runs)
