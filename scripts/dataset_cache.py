from pathlib import Path

from mnistflow.datasets import get_spec, read_raw, save_dataset
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    spec = get_spec(snakemake.wildcards.dataset, snakemake.params.custom_datasets)
    data = read_raw(spec, Path(snakemake.input.raw[0]).parent)
    log.info("train %s, test %s, %d classes", data.train_images.shape, data.test_images.shape, len(data.classes))
    save_dataset(snakemake.output[0], data)
