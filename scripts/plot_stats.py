from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.jobs import rule_context
from mnistflow.plots_stats import stats_figure
from mnistflow.stats import Summary

with rule_context(snakemake):
    figure = snakemake.wildcards.figure
    # the input function stats_figure_source picks the file: the dataset cache for the samples
    source = load_dataset(snakemake.input.source) if figure == "samples" else Summary.load(snakemake.input.source)
    atomic.save_figure(snakemake.output[0], stats_figure(figure, source, dict(snakemake.params.options)))
