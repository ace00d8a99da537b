from mnistflow.checkpoint import InputPipeline, load_checkpoint
from mnistflow.datasets import load_dataset
from mnistflow.introspect import test_predictions
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    model, state = load_checkpoint(snakemake.input.model, purpose="mark the test images it misclassifies")
    dataset = load_dataset(snakemake.input.dataset)
    predictions = test_predictions(model, InputPipeline.from_checkpoint(state), dataset.test_images,
                                   dataset.test_labels, snakemake.wildcards.run)
    log.info("%s: %d of %d test images misclassified (accuracy %.2f%%)", snakemake.wildcards.run,
             len(predictions.wrong), len(predictions.labels), 100 * predictions.accuracy)
    predictions.save(snakemake.output[0])
