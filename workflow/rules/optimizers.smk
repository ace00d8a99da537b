# Part 4: the optimizer comparison, every optimizer from the same initial weights on the same
# batches, under the article's settings and with a learning rate tuned on a validation split.


rule optimizer_sweep:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("optimizer_sweep"),
    output:
        "results/{dataset}/optimizers/sweep/{optimizer}.csv",
    log:
        "results/logs/{dataset}/optimizer_sweep-{optimizer}.log",
    benchmark:
        "results/benchmarks/{dataset}/optimizer_sweep-{optimizer}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=gpus_per_job,
    params:
        settings=optimizer_study(config),
    script:
        "../../scripts/optimizer_sweep.py"


rule optimizer_seeds:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        sweep=tuned_sweep,
        code=script_code("optimizer_seeds"),
    output:
        "results/{dataset}/optimizers/{protocol}/{optimizer}.csv",
    log:
        "results/logs/{dataset}/optimizer_seeds-{protocol}-{optimizer}.log",
    benchmark:
        "results/benchmarks/{dataset}/optimizer_seeds-{protocol}-{optimizer}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=gpus_per_job,
    params:
        settings=optimizer_study(config),
    script:
        "../../scripts/optimizer_seeds.py"


rule optimizer_comparison:
    input:
        runs=optimizer_runs,
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("optimizer_comparison"),
    output:
        table="results/{dataset}/optimizers/optimizers.csv",
        table_page=report(
            "results/{dataset}/optimizers/optimizers.html",
            caption="../report/optimizers.rst",
            category="4. Optimizers",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "table"},
        ),
    log:
        "results/logs/{dataset}/optimizer_comparison.log",
    benchmark:
        "results/benchmarks/{dataset}/optimizer_comparison.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/optimizer_comparison.py"


# The comparison's curves (from the runs) and bars (from the table).
rule plot_optimizers:
    input:
        table="results/{dataset}/optimizers/optimizers.csv",
        runs=optimizer_runs,
        code=script_code("plot_optimizers"),
    output:
        curves=report(
            "results/{dataset}/optimizers/optimizers-curves.png",
            caption="../report/optimizers.rst",
            category="4. Optimizers",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "curves"},
        ),
        bars=report(
            "results/{dataset}/optimizers/optimizers-bars.png",
            caption="../report/optimizers.rst",
            category="4. Optimizers",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "bars"},
        ),
    log:
        "results/logs/{dataset}/plot_optimizers.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_optimizers.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_optimizers.py"
