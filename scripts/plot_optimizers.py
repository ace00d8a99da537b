import pandas as pd

from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.plots_train import optimizer_bars, optimizer_curves

with rule_context(snakemake):
    runs = pd.concat([pd.read_csv(path) for path in snakemake.input.runs], ignore_index=True)
    atomic.save_figure(snakemake.output.curves, optimizer_curves(runs))
    atomic.save_figure(snakemake.output.bars, optimizer_bars(pd.read_csv(snakemake.input.table)))
