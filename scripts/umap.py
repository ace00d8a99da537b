from mnistflow.embed import PCAResult, umap
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    embedding = umap(PCAResult.load(snakemake.input.projection), snakemake.params.n_neighbors,
                     snakemake.params.min_dist, snakemake.params.annoy_trees, snakemake.params.seed,
                     threads=snakemake.threads)
    log.info("umap: %.1f s, %s", embedding.seconds, embedding.params)
    embedding.save(snakemake.output[0])
