from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding
from mnistflow.explorer import ExplorerPoints, explorer_page
from mnistflow.jobs import rule_context
from mnistflow.predictions import Predictions

with rule_context(snakemake) as log:
    dataset = load_dataset(snakemake.input.dataset)
    predictions = Predictions.load(snakemake.input.predictions)
    points = ExplorerPoints.gather([Embedding.load(path) for path in snakemake.input.embeddings], dataset,
                                   predictions)
    page = explorer_page(points, f"{dataset.name}: every image in its embeddings", run=predictions.run,
                         point_size=snakemake.params.point_size, backend=snakemake.params.backend)
    atomic.write_text(snakemake.output[0], page)
    log.info("%d points, %d embeddings, %d misclassified test images; %.1f MB", len(points.index),
             len(points.coords), int(points.mistakes.sum()), len(page) / 1e6)
