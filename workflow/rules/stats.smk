# Part 1: dataset statistics over every image of each split (the article sampled random
# batches with repeats instead).


rule stats_summary:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("stats_summary"),
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


# One rule draws every statistics figure: the file name (results/<dataset>/stats/<figure>.png)
# picks it, its options are stats.<figure> in the config.
rule plot_stats:
    input:
        source=stats_figure_source,
        code=script_code("plot_stats"),
    output:
        report(
            "results/{dataset}/stats/{figure}.png",
            caption="../report/stats_figure.rst",
            category="1. Data",
            subcategory="{dataset}",
            labels=stats_figure_labels,
        ),
    log:
        "results/logs/{dataset}/plot_stats-{figure}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_stats-{figure}.tsv"
    wildcard_constraints:
        figure="|".join(registry.STATS_FIGURES),
    localrule: True
    conda:
        "../../envs/stats.yaml"
    threads: 1
    params:
        options=lambda w: stats_figure_options(config, w.figure),
    script:
        "../../scripts/plot_stats.py"
