import pandas as pd

from mnistflow import atomic
from mnistflow.plots_train import training_curves
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    figure = training_curves(pd.read_csv(snakemake.input.metrics), snakemake.wildcards.run)
    atomic.save_figure(snakemake.output[0], figure)
