from mnistflow.embed import PCAResult
from mnistflow.jobs import rule_context
from mnistflow.neighbours import neighbour_graph

with rule_context(snakemake) as log:
    p = snakemake.params
    graph = neighbour_graph(PCAResult.load(snakemake.input.projection).projection, p.k, p.search,
                            snakemake.threads, p.annoy_trees, p.seed)
    log.info("%s search of %d neighbours a point: %.1f s, %s", graph.search, graph.k, graph.seconds, graph.params)
    graph.save(snakemake.output[0])
