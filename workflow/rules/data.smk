# Raw IDX files (verified by SHA-256) and the per-dataset npz cache every analysis reads, or the
# cache of a folder or npz of the user's own images (mnistflow.ingest).
# Unlike the analyses, these rules take no script_code() inputs: their outputs are fixed by the
# checksums, so editing the data code (say, adding a dataset) must not redo every dataset.


rule acquire_raw:
    output:
        expand("resources/{{dataset}}/raw/{name}", name=RAW_FILES.values()),
    log:
        "results/logs/{dataset}/acquire_raw.log",
    benchmark:
        "results/benchmarks/{dataset}/acquire_raw.tsv"
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        custom_datasets=lambda w: custom_dataset(config, w.dataset),
        sources=config["data"]["sources"],
        local_dir=lambda w: local_dir(config, w.dataset),
    script:
        "../../scripts/acquire_raw.py"


rule dataset_cache:
    input:
        raw=raw_files,
    output:
        "results/{dataset}/data/dataset.npz",
    log:
        "results/logs/{dataset}/dataset_cache.log",
    benchmark:
        "results/benchmarks/{dataset}/dataset_cache.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        custom_datasets=lambda w: custom_dataset(config, w.dataset),
    script:
        "../../scripts/dataset_cache.py"


# Your own images: a folder or an npz read straight into the cache. Its content digest is a
# param, so any change to the images reruns it and everything after it; unlike the IDX rules, a
# change to the conversion code (its code input) does too.
rule ingest_cache:
    input:
        code=script_code("ingest_cache"),
    output:
        "results/{dataset}/data/dataset.npz",
    log:
        "results/logs/{dataset}/ingest_cache.log",
    benchmark:
        "results/benchmarks/{dataset}/ingest_cache.tsv"
    wildcard_constraints:
        dataset=INGESTED_DATASETS,
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        entry=lambda w: ingested_dataset(config, w.dataset),
        source_digest=source_digest,
    script:
        "../../scripts/ingest_cache.py"


ruleorder: ingest_cache > dataset_cache
