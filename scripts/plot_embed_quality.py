import pandas as pd

from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding
from mnistflow.jobs import rule_context
from mnistflow.plots_embed import quality_comparison

with rule_context(snakemake):
    embeddings = [Embedding.load(path) for path in snakemake.input.embeddings]
    table = pd.read_csv(snakemake.input.table)
    classes = load_dataset(snakemake.input.dataset).classes
    atomic.save_figure(snakemake.output.figure,
                       quality_comparison(embeddings, table, classes, snakemake.params.point_size))
