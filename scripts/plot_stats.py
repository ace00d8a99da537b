from mnistflow import atomic
from mnistflow.plots_stats import stats_figure
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    figure = stats_figure(snakemake.wildcards.figure, snakemake.input.source, dict(snakemake.params.options))
    atomic.save_figure(snakemake.output[0], figure)
