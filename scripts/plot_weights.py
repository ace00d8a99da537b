from mnistflow.plots_introspect import write_weight_figures
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    out = snakemake.output
    write_weight_figures(snakemake.input.weights, out.gif, out.sheet, out.bands)
