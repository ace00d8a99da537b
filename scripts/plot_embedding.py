from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding
from mnistflow.jobs import rule_context
from mnistflow.plots_embed import embedding_figure

with rule_context(snakemake):
    embedding, dataset = Embedding.load(snakemake.input.embedding), load_dataset(snakemake.input.dataset)
    figure = embedding_figure(snakemake.wildcards.figure, embedding, dataset, snakemake.params.point_size)
    atomic.save_figure(snakemake.output[0], figure)
