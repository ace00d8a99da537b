# Part 1: dataset statistics over every image of each split (the article sampled random
# batches with repeats instead).


rule stats_summary:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        code=package_code("stats", "report"),
    output:
        summary="results/{dataset}/stats/summary.npz",
        table="results/{dataset}/stats/stats.csv",
        table_page=report(
            "results/{dataset}/stats/stats.html",
            caption="../report/stats_table.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "statistics table"},
        ),
    log:
        "results/logs/{dataset}/stats_summary.log",
    benchmark:
        "results/benchmarks/{dataset}/stats_summary.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    script:
        "../../scripts/stats_summary.py"


rule plot_samples:
    input:
        source="results/{dataset}/data/dataset.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/samples.png",
            caption="../report/stats_samples.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "sample images"},
        ),
    log:
        "results/logs/{dataset}/plot_samples.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_samples.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="samples",
        options=config["stats"]["samples"],
    script:
        "../../scripts/plot_stats.py"


rule plot_class_means:
    input:
        source="results/{dataset}/stats/summary.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/class_means.png",
            caption="../report/stats_class_means.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "class mean images"},
        ),
    log:
        "results/logs/{dataset}/plot_class_means.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_class_means.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="class_means",
        options=config["stats"]["class_means"],
    script:
        "../../scripts/plot_stats.py"


rule plot_class_stds:
    input:
        source="results/{dataset}/stats/summary.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/class_stds.png",
            caption="../report/stats_class_stds.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "class std images"},
        ),
    log:
        "results/logs/{dataset}/plot_class_stds.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_class_stds.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="class_stds",
        options=config["stats"]["class_stds"],
    script:
        "../../scripts/plot_stats.py"


rule plot_pixel_histograms:
    input:
        source="results/{dataset}/stats/summary.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/pixel_histograms.png",
            caption="../report/stats_pixel_histograms.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "pixel histograms per class"},
        ),
    log:
        "results/logs/{dataset}/plot_pixel_histograms.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_pixel_histograms.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="pixel_histograms",
        options=config["stats"]["pixel_histograms"],
    script:
        "../../scripts/plot_stats.py"


rule plot_mean_intensity:
    input:
        source="results/{dataset}/stats/summary.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/mean_intensity.png",
            caption="../report/stats_mean_intensity.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "mean intensity per class"},
        ),
    log:
        "results/logs/{dataset}/plot_mean_intensity.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_mean_intensity.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="mean_intensity",
        options={},
    script:
        "../../scripts/plot_stats.py"


rule plot_class_counts:
    input:
        source="results/{dataset}/stats/summary.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/class_counts.png",
            caption="../report/stats_class_counts.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "class counts"},
        ),
    log:
        "results/logs/{dataset}/plot_class_counts.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_class_counts.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="class_counts",
        options={},
    script:
        "../../scripts/plot_stats.py"


rule plot_train_vs_test:
    input:
        source="results/{dataset}/stats/summary.npz",
        code=package_code("plots_stats"),
    output:
        report(
            "results/{dataset}/stats/train_vs_test.png",
            caption="../report/stats_train_vs_test.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "train vs test"},
        ),
    log:
        "results/logs/{dataset}/plot_train_vs_test.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_train_vs_test.tsv"
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        figure="train_vs_test",
        options=config["stats"]["train_vs_test"],
    script:
        "../../scripts/plot_stats.py"
