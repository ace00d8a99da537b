from mnistflow.report import write_headline
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    write_headline(snakemake.output[0], **snakemake.params.tables)
