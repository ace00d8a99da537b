from mnistflow import atomic
from mnistflow.introspect import HiddenLayers
from mnistflow.jobs import rule_context
from mnistflow.plots_introspect import hidden_layer_figure

with rule_context(snakemake):
    layers = HiddenLayers.load(snakemake.input[0])
    for figure, path in snakemake.output.items():
        atomic.save_figure(path, hidden_layer_figure(figure, layers, snakemake.params.feature_channels))
