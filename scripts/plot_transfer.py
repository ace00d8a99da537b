import pandas as pd

from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.plots_transfer import label_efficiency
from mnistflow.transfer_results import summarise

with rule_context(snakemake):
    results = pd.read_csv(snakemake.input.table)
    figure = label_efficiency(summarise(results), results.source.iloc[0], results.target.iloc[0],
                              results.seed.nunique())
    atomic.save_figure(snakemake.output.figure, figure)
