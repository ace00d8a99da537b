from mnistflow.datasets import load_dataset
from mnistflow.embed import Points, pca
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    points = Points.from_dataset(load_dataset(snakemake.input.dataset), snakemake.params.subset, snakemake.params.seed)
    result = pca(points, snakemake.params.components)
    log.info("%d points, %d components explain %.4f of the variance, %.2f s", len(points.labels),
             snakemake.params.components, result.explained_variance_ratio[: snakemake.params.components].sum(), result.seconds)
    result.save(snakemake.output.projection)
    result.embedding().save(snakemake.output.embedding)
