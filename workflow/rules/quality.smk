# What is wrong with the data: suspected label errors, duplicates and leaks between train and
# test, outliers (mnistflow.quality). The article looked for none of them.


# Every image scored by a fold model that never trained on it.
rule quality_probabilities:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        projection="results/{dataset}/embed/pca50.npz",
        code=script_code("quality_probabilities"),
    output:
        "results/{dataset}/quality/probabilities.npz",
    log:
        "results/logs/{dataset}/quality_probabilities.log",
    benchmark:
        "results/benchmarks/{dataset}/quality_probabilities.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    params:
        **quality_folds(config),
    script:
        "../../scripts/quality_probabilities.py"


# Label issues (cleanlab), duplicates from the embeddings' neighbour graph, outliers: the tables,
# and every image's scores for the figures and the explorer.
rule data_quality:
    input:
        probabilities="results/{dataset}/quality/probabilities.npz",
        dataset="results/{dataset}/data/dataset.npz",
        projection="results/{dataset}/embed/pca50.npz",
        graph="results/{dataset}/embed/knn.npz",
        code=script_code("data_quality"),
    output:
        scores="results/{dataset}/quality/scores.npz",
        label_issues="results/{dataset}/quality/label_issues.csv",
        label_joint="results/{dataset}/quality/label_joint.csv",
        duplicates="results/{dataset}/quality/duplicates.csv",
        outliers="results/{dataset}/quality/outliers.csv",
        classes="results/{dataset}/quality/classes.csv",
        summary="results/{dataset}/quality/summary.csv",
        table_page=report(
            "results/{dataset}/quality/label_issues.html",
            caption="../report/quality_table.rst",
            category="9. Data quality",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "suspected label errors, table"},
        ),
    log:
        "results/logs/{dataset}/data_quality.log",
    benchmark:
        "results/benchmarks/{dataset}/data_quality.tsv"
    conda:
        "../../envs/quality.yaml"
    threads: config["embed"]["threads"]
    params:
        **quality_checks(config),
    script:
        "../../scripts/data_quality.py"


rule plot_quality:
    input:
        scores="results/{dataset}/quality/scores.npz",
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("plot_quality"),
    output:
        report(
            "results/{dataset}/quality/{figure}.png",
            caption="../report/quality_figure.rst",
            category="9. Data quality",
            subcategory="{dataset}",
            labels=quality_figure_labels,
        ),
    log:
        "results/logs/{dataset}/plot_quality-{figure}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_quality-{figure}.tsv"
    wildcard_constraints:
        figure="|".join(registry.QUALITY_FIGURES),
    localrule: True
    conda:
        "../../envs/quality.yaml"
    threads: 1
    params:
        shown=config["data_quality"]["shown"],
    script:
        "../../scripts/plot_quality.py"
