from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.report import headline

with rule_context(snakemake):
    atomic.write_text(snakemake.output[0], headline(**snakemake.params.tables))
