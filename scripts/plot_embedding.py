from mnistflow import atomic
from mnistflow.plots_embed import embedding_figure
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    figure = embedding_figure(snakemake.wildcards.figure, snakemake.input.embedding, snakemake.input.dataset,
                              snakemake.params.point_size)
    atomic.save_figure(snakemake.output[0], figure)
