from pathlib import Path

from mnistflow.datasets import acquire, get_spec
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    spec = get_spec(snakemake.wildcards.dataset, snakemake.params.custom_datasets)
    acquire(
        spec,
        Path(snakemake.output[0]).parent,
        sources=snakemake.params.sources,
        local_dir=snakemake.params.local_dir or None,
        log=log.info,
    )
