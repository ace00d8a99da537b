# Part 8: conditional GANs, scored with the project's own classifier (train.best_run).


rule gan_train:
    input:
        dataset="results/{dataset}/data/dataset.npz",
        classifier=gan_classifier,
        code=script_code("gan_train"),
    output:
        generator="results/{dataset}/gan/{gan}/generator.pt",
        losses="results/{dataset}/gan/{gan}/losses.csv",
        frames="results/{dataset}/gan/{gan}/frames.npz",
        quality="results/{dataset}/gan/{gan}/gan_quality.csv",
        quality_page=report(
            "results/{dataset}/gan/{gan}/gan_quality.html",
            caption="../report/gan_quality_table.rst",
            category="7. GAN",
            subcategory="{dataset} {gan}",
            labels={"model": "{gan}", "figure": "quality table"},
        ),
    log:
        "results/logs/{dataset}/gan_train-{gan}.log",
    benchmark:
        "results/benchmarks/{dataset}/gan_train-{gan}.tsv"
    # long chains (training -> GANs, transfer) start first; short jobs fill the other cores
    priority: 10
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=gpus_per_job,
    params:
        settings=lambda w: gan_settings(config, w.gan),
        cuda_graphs=config["train"]["cuda_graphs"],
        # Not an output: Snakemake deletes the outputs of a killed job, this must survive it.
        resume="results/{dataset}/gan/{gan}/resume.pt",
    script:
        "../../scripts/gan_train.py"


# New samples of every class from the trained generator: a grid of them, and their pixel
# histograms beside those of real test images, for the figures.
rule gan_samples:
    input:
        generator="results/{dataset}/gan/{gan}/generator.pt",
        dataset="results/{dataset}/data/dataset.npz",
        code=script_code("gan_samples"),
    output:
        "results/{dataset}/gan/{gan}/fresh_samples.npz",
    log:
        "results/logs/{dataset}/gan_samples-{gan}.log",
    benchmark:
        "results/benchmarks/{dataset}/gan_samples-{gan}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        grid=10,  # samples per class in the class grid
        histogram_images=config["gan"]["histogram_images"],
        seed=config["gan"]["seed"],
    script:
        "../../scripts/gan_samples.py"


rule plot_gan:
    input:
        frames="results/{dataset}/gan/{gan}/frames.npz",
        losses="results/{dataset}/gan/{gan}/losses.csv",
        quality="results/{dataset}/gan/{gan}/gan_quality.csv",
        samples="results/{dataset}/gan/{gan}/fresh_samples.npz",
        code=script_code("plot_gan"),
    output:
        **gan_figure_outputs(),
        gif="results/{dataset}/gan/{gan}/samples.gif",
        sheet=report(
            "results/{dataset}/gan/{gan}/samples-sheet.png",
            caption="../report/gan_sheet.rst",
            category="7. GAN",
            subcategory="{dataset} {gan}",
            labels={
                "model": "{gan}",
                "figure": "fixed-noise samples after the first, middle and last epoch",
            },
        ),
    log:
        "results/logs/{dataset}/plot_gan-{gan}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_gan-{gan}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    script:
        "../../scripts/plot_gan.py"


rule gan_animation_page:
    input:
        gif="results/{dataset}/gan/{gan}/samples.gif",
        code=script_code("animation_page"),
    output:
        report(
            "results/{dataset}/gan/{gan}/samples.html",
            caption="../report/gan_animation.rst",
            category="7. GAN",
            subcategory="{dataset} {gan}",
            labels={"model": "{gan}", "figure": "samples over training (GIF)"},
        ),
    log:
        "results/logs/{dataset}/gan_animation_page-{gan}.log",
    benchmark:
        "results/benchmarks/{dataset}/gan_animation_page-{gan}.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        title="{gan} samples over training: {dataset}",
    script:
        "../../scripts/animation_page.py"
