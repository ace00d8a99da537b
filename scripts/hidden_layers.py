from mnistflow.plots_introspect import write_hidden_layer_figures
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    write_hidden_layer_figures(snakemake.input.model, snakemake.input.dataset, dict(snakemake.output.items()),
                               snakemake.params.feature_channels, snakemake.params.mistakes)
