from mnistflow import atomic
from mnistflow.plots_embed import pca_figure
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    figure = pca_figure(snakemake.wildcards.figure, snakemake.input.projection, snakemake.input.dataset)
    atomic.save_figure(snakemake.output[0], figure)
