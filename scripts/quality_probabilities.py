from mnistflow.datasets import dataset_classes
from mnistflow.embed import PCAResult
from mnistflow.jobs import rule_context
from mnistflow.quality import FoldModel, out_of_sample_probabilities

with rule_context(snakemake) as log:
    pca = PCAResult.load(snakemake.input.projection)
    result = out_of_sample_probabilities(pca.projection, pca.labels, pca.is_test,
                                         dataset_classes(snakemake.input.dataset),
                                         FoldModel(**snakemake.params.model), snakemake.params.folds,
                                         snakemake.params.seed)
    log.info("%d images, %d folds: accuracy on the held-out fold %s, %.1f s", len(result.labels),
             snakemake.params.folds, ", ".join(f"{a:.4f}" for a in result.fold_accuracy), result.seconds)
    result.save(snakemake.output[0])
