# Parts 5-7: weight and gradient statistics recorded while the runs named in introspect.runs
# train, and figures made from those dumps and the final checkpoint (never by training again).


# The same training job as rule train, for the runs under introspection: it also records.
use rule train as train_recorded with:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("train"),
    output:
        model="results/{dataset}/train/{run}/model.pt",
        metrics="results/{dataset}/train/{run}/metrics.csv",
        weights="results/{dataset}/introspect/{run}/weights.npz",
        gradients="results/{dataset}/introspect/{run}/gradients.npz",
    wildcard_constraints:
        dataset=analysed_datasets_pattern(),
        run=recorded_runs_pattern(),
    params:
        run=lambda w: training_run(config, w.run),
        resume="results/{dataset}/train/{run}/resume.pt",
        recording=recording_options(config),
        cuda_graphs=config["train"]["cuda_graphs"],


ruleorder: train_recorded > train


rule plot_weights:
    input:
        weights="results/{dataset}/introspect/{run}/weights.npz",
        code=script_code("plot_weights"),
    output:
        gif="results/{dataset}/introspect/{run}/weights.gif",
        sheet=report(
            "results/{dataset}/introspect/{run}/weights-sheet.png",
            caption="../report/introspect_weights.rst",
            category="5. Weights & gradients",
            subcategory="{dataset} {run}",
            labels={
                "run": "{run}",
                "figure": "weight distributions (first, middle, last)",
            },
        ),
        bands=report(
            "results/{dataset}/introspect/{run}/weight_bands.png",
            caption="../report/introspect_weight_bands.rst",
            category="5. Weights & gradients",
            subcategory="{dataset} {run}",
            labels={"run": "{run}", "figure": "weight percentiles"},
        ),
    log:
        "results/logs/{dataset}/plot_weights-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_weights-{run}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_weights.py"


rule plot_gradients:
    input:
        gradients="results/{dataset}/introspect/{run}/gradients.npz",
        code=script_code("plot_gradients"),
    output:
        flow=report(
            "results/{dataset}/introspect/{run}/gradient_flow.png",
            caption="../report/introspect_gradient_flow.rst",
            category="5. Weights & gradients",
            subcategory="{dataset} {run}",
            labels={"run": "{run}", "figure": "gradient flow"},
        ),
        norms=report(
            "results/{dataset}/introspect/{run}/gradient_norms.png",
            caption="../report/introspect_gradient_norms.rst",
            category="5. Weights & gradients",
            subcategory="{dataset} {run}",
            labels={"run": "{run}", "figure": "gradient norms"},
        ),
        gif="results/{dataset}/introspect/{run}/gradients.gif",
        sheet=report(
            "results/{dataset}/introspect/{run}/gradients-sheet.png",
            caption="../report/introspect_gradients.rst",
            category="5. Weights & gradients",
            subcategory="{dataset} {run}",
            labels={
                "run": "{run}",
                "figure": "gradient distributions (first, middle, last)",
            },
        ),
    log:
        "results/logs/{dataset}/plot_gradients-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_gradients-{run}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_gradients.py"


rule introspect_animation_page:
    input:
        gif="results/{dataset}/introspect/{run}/{animation}.gif",
        code=script_code("animation_page"),
    output:
        report(
            "results/{dataset}/introspect/{run}/{animation}.html",
            caption="../report/introspect_animation.rst",
            category="5. Weights & gradients",
            subcategory="{dataset} {run}",
            labels={"run": "{run}", "figure": "{animation} over training (GIF)"},
        ),
    log:
        "results/logs/{dataset}/introspect_animation_page-{run}-{animation}.log",
    benchmark:
        "results/benchmarks/{dataset}/introspect_animation_page-{run}-{animation}.tsv"
    wildcard_constraints:
        animation="|".join(registry.ANIMATIONS),
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        title="{animation} over training: {dataset} {run}",
    script:
        "../../scripts/animation_page.py"


# What the checkpoint does with the test images (the model runs here, once), then the figures
# drawn from that artefact.
rule hidden_layers:
    input:
        model="results/{dataset}/train/{run}/model.pt",
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("hidden_layers"),
    output:
        "results/{dataset}/introspect/{run}/hidden_layers.npz",
    log:
        "results/logs/{dataset}/hidden_layers-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/hidden_layers-{run}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    params:
        mistakes=config["introspect"]["mistakes"],
    script:
        "../../scripts/hidden_layers.py"


rule plot_hidden_layers:
    input:
        "results/{dataset}/introspect/{run}/hidden_layers.npz",
        code=script_code("plot_hidden_layers"),
    output:
        **hidden_layer_outputs(),
    log:
        "results/logs/{dataset}/plot_hidden_layers-{run}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_hidden_layers-{run}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        feature_channels=config["introspect"]["feature_channels"],
    script:
        "../../scripts/plot_hidden_layers.py"
