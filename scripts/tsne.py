from mnistflow.embed import PCAResult, tsne
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    embedding = tsne(PCAResult.load(snakemake.input.projection), snakemake.wildcards.backend,
                     threads=snakemake.threads, **snakemake.params.options)
    log.info("%s: %.1f s, %s", embedding.method, embedding.seconds, embedding.params)
    embedding.save(snakemake.output[0])
