# Part 2: dimensionality reduction of every train and test image (the article embedded the
# 60,000 training images with MulticoreTSNE and measured nothing).


rule pca:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("pca"),
    output:
        projection="results/{dataset}/embed/pca50.npz",
        embedding="results/{dataset}/embed/pca.npz",
    log:
        "results/logs/{dataset}/pca.log",
    benchmark:
        "results/benchmarks/{dataset}/pca.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    params:
        components=config["embed"]["pca_components"],
        subset=config["embed"]["subset"],
        seed=config["embed"]["seed"],
    script:
        "../../scripts/pca.py"


# The neighbours of every PCA point, found once for every embedding that needs them.
rule knn:
    input:
        projection="results/{dataset}/embed/pca50.npz",
        code=script_code("knn"),
    output:
        "results/{dataset}/embed/knn.npz",
    log:
        "results/logs/{dataset}/knn.log",
    benchmark:
        "results/benchmarks/{dataset}/knn.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    params:
        k=neighbour_count(config),
        search=neighbour_search(config),
    script:
        "../../scripts/knn.py"


rule tsne:
    input:
        projection="results/{dataset}/embed/pca50.npz",
        graph=tsne_graph,
        code=script_code("tsne"),
    output:
        "results/{dataset}/embed/tsne-{backend}.npz",
    log:
        "results/logs/{dataset}/tsne-{backend}.log",
    benchmark:
        "results/benchmarks/{dataset}/tsne-{backend}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    resources:
        gpu=tsne_gpus,
    params:
        options=lambda w: tsne_options(config, w.backend),
    script:
        "../../scripts/tsne.py"


rule umap:
    input:
        projection="results/{dataset}/embed/pca50.npz",
        graph="results/{dataset}/embed/knn.npz",
        code=script_code("umap"),
    output:
        "results/{dataset}/embed/umap.npz",
    log:
        "results/logs/{dataset}/umap.log",
    benchmark:
        "results/benchmarks/{dataset}/umap.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    params:
        n_neighbors=config["embed"]["umap"]["n_neighbors"],
        min_dist=config["embed"]["umap"]["min_dist"],
        epochs=config["embed"]["umap"]["epochs"],
        seed=config["embed"]["umap"]["seed"],
    script:
        "../../scripts/umap.py"


rule plot_embedding:
    input:
        embedding="results/{dataset}/embed/{method}.npz",
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("plot_embedding"),
    output:
        report(
            "results/{dataset}/embed/{method}-{figure}.png",
            caption="../report/embed_figure.rst",
            category="2. Embeddings",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "method": "{method}",
                "figure": "{figure}",
            },
        ),
    log:
        "results/logs/{dataset}/plot_embedding-{method}-{figure}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_embedding-{method}-{figure}.tsv"
    wildcard_constraints:
        figure="|".join(registry.EMBEDDING_FIGURES),
    localrule: True
    conda:
        "../../envs/embed.yaml"
    threads: 1
    params:
        point_size=config["embed"]["point_size"],
    script:
        "../../scripts/plot_embedding.py"


rule plot_pca:
    input:
        projection="results/{dataset}/embed/pca50.npz",
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("plot_pca"),
    output:
        report(
            "results/{dataset}/embed/pca-{figure}.png",
            caption="../report/embed_pca.rst",
            category="2. Embeddings",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "method": "pca", "figure": "{figure}"},
        ),
    log:
        "results/logs/{dataset}/plot_pca-{figure}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_pca-{figure}.tsv"
    wildcard_constraints:
        figure="|".join(registry.PCA_FIGURES),
    localrule: True
    conda:
        "../../envs/embed.yaml"
    threads: 1
    script:
        "../../scripts/plot_pca.py"


rule embed_quality:
    input:
        embeddings=embeddings_to_compare,
        dataset="results/{dataset}/data/dataset.npz",
        graph="results/{dataset}/embed/knn.npz",
        code=script_code("embed_quality"),
    output:
        table="results/{dataset}/embed/embed_quality.csv",
        table_page=report(
            "results/{dataset}/embed/embed_quality.html",
            caption="../report/embed_quality_table.rst",
            category="2. Embeddings",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "method": "all",
                "figure": "quality table",
            },
        ),
    log:
        "results/logs/{dataset}/embed_quality.log",
    benchmark:
        "results/benchmarks/{dataset}/embed_quality.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    params:
        **config["embed"]["quality"],
        seed=config["embed"]["seed"],
    script:
        "../../scripts/embed_quality.py"


# The embeddings side by side, titled with their scores: restyling them recomputes no score.
rule plot_embed_quality:
    input:
        table="results/{dataset}/embed/embed_quality.csv",
        embeddings=embeddings_to_compare,
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("plot_embed_quality"),
    output:
        figure=report(
            "results/{dataset}/embed/embed_quality.png",
            caption="../report/embed_quality.rst",
            category="2. Embeddings",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "method": "all", "figure": "comparison"},
        ),
    log:
        "results/logs/{dataset}/plot_embed_quality.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_embed_quality.tsv"
    localrule: True
    conda:
        "../../envs/embed.yaml"
    threads: 1
    params:
        point_size=config["embed"]["point_size"],
    script:
        "../../scripts/plot_embed_quality.py"


# Every point of every embedding above on one offline page: hover shows the image, the switch
# keeps a point's identity, train.best_run's test mistakes and what data quality found are ringed
# (explorer.js holds the page's own code).
rule explorer:
    input:
        embeddings=embeddings_to_compare,
        dataset="results/{dataset}/data/dataset.npz",
        predictions=best_run_predictions,
        quality=quality_scores,
        code=script_code("explorer") + [str(PACKAGE_DIR / "explorer.js")],
    output:
        report(
            "results/{dataset}/embed/explorer.html",
            caption="../report/embed_explorer.rst",
            category="2. Embeddings",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "method": "all", "figure": "explorer"},
        ),
    log:
        "results/logs/{dataset}/explorer.log",
    benchmark:
        "results/benchmarks/{dataset}/explorer.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: 1
    params:
        point_size=config["embed"]["explorer"]["point_size"],
        backend=config["embed"]["explorer"]["backend"],
    script:
        "../../scripts/explorer.py"
