from mnistflow.embed import PCAResult, umap
from mnistflow.jobs import rule_context
from mnistflow.neighbours import NeighbourGraph

with rule_context(snakemake) as log:
    p = snakemake.params
    embedding = umap(PCAResult.load(snakemake.input.projection), NeighbourGraph.load(snakemake.input.graph),
                     p.n_neighbors, p.min_dist, p.seed, threads=snakemake.threads, epochs=p.epochs)
    log.info("umap: %.1f s (the neighbour graph's included), %s", embedding.seconds, embedding.params)
    embedding.save(snakemake.output[0])
