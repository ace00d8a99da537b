from mnistflow.plots_introspect import write_gradient_figures
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    out = snakemake.output
    write_gradient_figures(snakemake.input.gradients, out.flow, out.norms, out.gif, out.sheet)
