from mnistflow.embed import PCAResult
from mnistflow.jobs import rule_context
from mnistflow.neighbours import neighbour_graph

with rule_context(snakemake) as log:
    graph = neighbour_graph(PCAResult.load(snakemake.input.projection).projection, snakemake.params.k,
                            threads=snakemake.threads, **snakemake.params.search)
    log.info("%s search of %d neighbours a point: %.1f s, %s", graph.search, graph.k, graph.seconds, graph.params)
    graph.save(snakemake.output[0])
