# Raw IDX files (verified by SHA-256) and the per-dataset npz cache every analysis reads.


rule acquire_raw:
    output:
        expand("resources/{{dataset}}/raw/{name}", name=RAW_FILES.values()),
    params:
        custom_datasets=custom_dataset,
        sources=config["data"]["sources"],
        local_dir=local_dir,
    log:
        "results/logs/{dataset}/acquire_raw.log",
    benchmark:
        "results/benchmarks/{dataset}/acquire_raw.tsv"
    threads: 1
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/acquire_raw.py"


rule dataset_cache:
    input:
        raw_files,
    output:
        "results/{dataset}/data/dataset.npz",
    params:
        custom_datasets=custom_dataset,
    log:
        "results/logs/{dataset}/dataset_cache.log",
    benchmark:
        "results/benchmarks/{dataset}/dataset_cache.tsv"
    threads: 1
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/dataset_cache.py"
