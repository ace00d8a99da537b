from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.report import gif_page

with rule_context(snakemake):
    atomic.write_text(snakemake.output[0], gif_page(snakemake.input.gif, snakemake.params.title))
