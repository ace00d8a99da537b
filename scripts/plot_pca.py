from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import PCAResult
from mnistflow.jobs import rule_context
from mnistflow.plots_embed import pca_figure

with rule_context(snakemake):
    result, dataset = PCAResult.load(snakemake.input.projection), load_dataset(snakemake.input.dataset)
    atomic.save_figure(snakemake.output[0], pca_figure(snakemake.wildcards.figure, result, dataset))
