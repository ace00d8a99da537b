from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.ingest import ConversionSamples
from mnistflow.jobs import rule_context
from mnistflow.plots_stats import stats_figure
from mnistflow.registry import STATS_FIGURES_FROM_DATASET
from mnistflow.stats import Summary

with rule_context(snakemake):
    figure, path = snakemake.wildcards.figure, snakemake.input.source
    if figure == "conversion":
        source = ConversionSamples.load(path)
    else:
        source = load_dataset(path) if figure in STATS_FIGURES_FROM_DATASET else Summary.load(path)
    atomic.save_figure(snakemake.output[0], stats_figure(figure, source, dict(snakemake.params.options)))
