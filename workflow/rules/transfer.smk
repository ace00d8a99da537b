# Part 9: transfer learning. A source network (train.best_run's checkpoint on the source
# dataset, or an ImageNet network) reused on a target dataset, three strategies over label
# budgets, results/transfer/<source>_to_<target>/.


rule transfer_features:
    input:
        dataset="results/{target}/data/dataset.npz",
        source=transfer_source_checkpoint,
        code=script_code("transfer_features"),
    output:
        "results/transfer/{source}_to_{target}/features.npz",
    log:
        "results/logs/transfer/{source}_to_{target}/features.log",
    benchmark:
        "results/benchmarks/transfer/{source}_to_{target}/features.tsv"
    # long chains (training -> GANs, transfer) start first; short jobs fill the other cores
    priority: 10
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=gpus_per_job,
    params:
        source=lambda w: transfer_source_options(config, w.source),
    script:
        "../../scripts/transfer_features.py"


rule transfer_strategy:
    input:
        dataset="results/{target}/data/dataset.npz",
        source=transfer_source_checkpoint,
        features=transfer_features_input,
        code=script_code("transfer_strategy"),
    output:
        "results/transfer/{source}_to_{target}/runs/{strategy}.csv",
    log:
        "results/logs/transfer/{source}_to_{target}/{strategy}.log",
    benchmark:
        "results/benchmarks/transfer/{source}_to_{target}/{strategy}.tsv"
    # long chains (training -> GANs, transfer) start first; short jobs fill the other cores
    priority: 10
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=gpus_per_job,
    params:
        source=lambda w: transfer_source_options(config, w.source),
        settings=lambda w: transfer_settings(config, w.source, w.strategy),
    script:
        "../../scripts/transfer_strategy.py"


rule transfer_summary:
    input:
        runs=transfer_runs,
        code=script_code("transfer_summary"),
    output:
        table="results/transfer/{source}_to_{target}/transfer.csv",
        table_page=report(
            "results/transfer/{source}_to_{target}/transfer.html",
            caption="../report/transfer.rst",
            category="8. Transfer",
            subcategory="{source} to {target}",
            labels={"source": "{source}", "target": "{target}", "figure": "table"},
        ),
    log:
        "results/logs/transfer/{source}_to_{target}/summary.log",
    benchmark:
        "results/benchmarks/transfer/{source}_to_{target}/summary.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/transfer_summary.py"


# Test accuracy against labels per class, from the transfer's table.
rule plot_transfer:
    input:
        table="results/transfer/{source}_to_{target}/transfer.csv",
        code=script_code("plot_transfer"),
    output:
        figure=report(
            "results/transfer/{source}_to_{target}/label_efficiency.png",
            caption="../report/transfer.rst",
            category="8. Transfer",
            subcategory="{source} to {target}",
            labels={
                "source": "{source}",
                "target": "{target}",
                "figure": "label efficiency",
            },
        ),
    log:
        "results/logs/transfer/{source}_to_{target}/plot_transfer.log",
    benchmark:
        "results/benchmarks/transfer/{source}_to_{target}/plot_transfer.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_transfer.py"
