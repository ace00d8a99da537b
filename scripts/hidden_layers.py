from mnistflow.checkpoint import InputPipeline, load_checkpoint
from mnistflow.datasets import load_dataset
from mnistflow.introspect import hidden_layers
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    model, state = load_checkpoint(snakemake.input.model)
    dataset = load_dataset(snakemake.input.dataset)
    layers = hidden_layers(model, InputPipeline.from_checkpoint(state), dataset.test_images, dataset.test_labels,
                           state["classes"], snakemake.params.mistakes)
    log.info("%d most confidently wrong test images kept", len(layers.mistake_index))
    layers.save(snakemake.output[0])
