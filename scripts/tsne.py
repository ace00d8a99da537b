from mnistflow.embed import PCAResult, tsne
from mnistflow.jobs import rule_context
from mnistflow.neighbours import NeighbourGraph

with rule_context(snakemake) as log:
    graph = NeighbourGraph.load(snakemake.input.graph) if snakemake.input.get("graph") else None
    # auto: the backend is picked here, on the machine that runs the job
    embedding = tsne(PCAResult.load(snakemake.input.projection), snakemake.wildcards.backend,
                     threads=snakemake.threads, graph=graph, **snakemake.params.options)
    log.info("%s: %.1f s (the neighbour graph's included), %s", embedding.method, embedding.seconds,
             embedding.params)
    embedding.save(snakemake.output[0])
