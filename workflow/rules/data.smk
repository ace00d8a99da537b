# Raw IDX files (verified by SHA-256) and the per-dataset npz cache every analysis reads; a
# folder or npz of the user's own images goes straight into the cache (mnistflow.ingest).
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
        source_digest=source_digest,
    script:
        "../../scripts/dataset_cache.py"
