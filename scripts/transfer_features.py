from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.jobs import rule_context
from mnistflow.train import pick_device
from mnistflow.transfer import backbone_features, load_source

with rule_context(snakemake) as log:
    source = load_source(snakemake.wildcards.source, snakemake.input.source, **snakemake.params.source)
    target = load_dataset(snakemake.input.dataset)
    atomic.save_npz(snakemake.output[0], **backbone_features(source, target, pick_device(), log.info))
