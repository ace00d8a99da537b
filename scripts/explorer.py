from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding
from mnistflow.explorer import ExplorerPoints, explorer_page
from mnistflow.jobs import rule_context
from mnistflow.predictions import Predictions

with rule_context(snakemake) as log:
    dataset = load_dataset(snakemake.input.dataset)
    predictions = Predictions.load(snakemake.input.predictions)
    quality = atomic.load_arrays(snakemake.input.quality) if snakemake.input.get("quality") else None
    points = ExplorerPoints.gather([Embedding.load(path) for path in snakemake.input.embeddings], dataset,
                                   predictions, quality)
    page = explorer_page(points, f"{dataset.name}: every image in its embeddings", run=predictions.run,
                         point_size=snakemake.params.point_size, backend=snakemake.params.backend)
    atomic.write_text(snakemake.output[0], page)
    log.info("%d points, %d embeddings; rings: %s; %.1f MB", len(points.index), len(points.coords),
             ", ".join(f"{len(rows):,} {layer}" for layer, rows in points.rings.items()), len(page) / 1e6)
