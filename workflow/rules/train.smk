# Parts 3-4: training runs, one job per run id (a wildcard), named and configured under
# train.runs in the config.


rule train:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("train"),
    output:
        model="results/{dataset}/train/{run}/model.pt",
        metrics="results/{dataset}/train/{run}/metrics.csv",
    log:
        "results/logs/{dataset}/train-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/train-{run}.tsv"
    # long chains (training -> GANs, transfer) start first; short jobs fill the other cores
    priority: 10
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=gpus_per_job,
    params:
        run=lambda w: training_run(config, w.run),
        # Not an output: Snakemake deletes the outputs of a killed job, this must survive it.
        resume="results/{dataset}/train/{run}/resume.pt",
        recording=None,
        cuda_graphs=config["train"]["cuda_graphs"],
    script:
        "../../scripts/train.py"


rule plot_curves:
    input:
        metrics="results/{dataset}/train/{run}/metrics.csv",
        code=script_code("plot_curves"),
    output:
        report(
            "results/{dataset}/train/{run}/curves.png",
            caption="../report/train_curves.rst",
            category="3. Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "run": "{run}", "figure": "curves"},
        ),
    log:
        "results/logs/{dataset}/plot_curves-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_curves-{run}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_curves.py"


rule leaderboard:
    input:
        metrics=run_metrics,
        code=script_code("leaderboard"),
    output:
        table="results/{dataset}/train/leaderboard.csv",
        table_page=report(
            "results/{dataset}/train/leaderboard.html",
            caption="../report/train_leaderboard.rst",
            category="3. Models",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "run": "all",
                "figure": "leaderboard table",
            },
        ),
    log:
        "results/logs/{dataset}/leaderboard.log",
    benchmark:
        "results/benchmarks/{dataset}/leaderboard.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        runs=training_runs(config),
    script:
        "../../scripts/leaderboard.py"


# The leaderboard drawn from its table: restyling it reads no metrics.
rule plot_leaderboard:
    input:
        table="results/{dataset}/train/leaderboard.csv",
        code=script_code("plot_leaderboard"),
    output:
        figure=report(
            "results/{dataset}/train/leaderboard.png",
            caption="../report/train_leaderboard.rst",
            category="3. Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "run": "all", "figure": "leaderboard"},
        ),
    log:
        "results/logs/{dataset}/plot_leaderboard.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_leaderboard.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_leaderboard.py"


# Every test image's predicted class and its probability, from one run's checkpoint (the
# embedding explorer rings train.best_run's mistakes).
rule test_predictions:
    input:
        model="results/{dataset}/train/{run}/model.pt",
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("test_predictions"),
    output:
        "results/{dataset}/train/{run}/test_predictions.npz",
    log:
        "results/logs/{dataset}/test_predictions-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/test_predictions-{run}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    script:
        "../../scripts/test_predictions.py"
