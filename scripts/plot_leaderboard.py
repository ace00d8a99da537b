import pandas as pd

from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.plots_train import leaderboard_figure

with rule_context(snakemake):
    atomic.save_figure(snakemake.output.figure, leaderboard_figure(pd.read_csv(snakemake.input.table)))
