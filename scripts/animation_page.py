from mnistflow.report import write_gif_page
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    write_gif_page(snakemake.input.gif, snakemake.output[0], snakemake.params.title)
