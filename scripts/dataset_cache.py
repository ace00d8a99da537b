from pathlib import Path

from mnistflow.datasets import get_spec, ingested, read_raw, save_dataset
from mnistflow.ingest import read_custom
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    name, entry = snakemake.wildcards.dataset, snakemake.params.custom_datasets.get(snakemake.wildcards.dataset)
    if ingested(entry):
        images = read_custom(name, entry, log.info)
        data, extra = images.dataset, images.arrays()
        log.info("content digest %s", images.content_digest)
    else:
        data = read_raw(get_spec(name, snakemake.params.custom_datasets), Path(snakemake.input.raw[0]).parent)
        extra = {}
    log.info("train %s, test %s, %d classes", data.train_images.shape, data.test_images.shape, len(data.classes))
    save_dataset(snakemake.output[0], data, **extra)
