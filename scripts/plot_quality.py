import numpy as np

from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.jobs import rule_context
from mnistflow.plots_quality import quality_figure

with rule_context(snakemake):
    dataset = load_dataset(snakemake.input.dataset)
    images = np.concatenate([dataset.train_images, dataset.test_images])
    scores = atomic.load_arrays(snakemake.input.scores)
    atomic.save_figure(snakemake.output[0],
                       quality_figure(snakemake.wildcards.figure, scores, images, snakemake.params.shown))
