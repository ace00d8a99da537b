from mnistflow.datasets import save_dataset
from mnistflow.ingest import read_custom
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    images = read_custom(snakemake.wildcards.dataset, snakemake.params.entry, log.info)
    data = images.dataset
    log.info("train %s, test %s, %d classes; content digest %s", data.train_images.shape, data.test_images.shape,
             len(data.classes), images.content_digest)
    save_dataset(snakemake.output[0], data, **images.arrays())
