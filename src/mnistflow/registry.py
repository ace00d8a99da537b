"""The names the workflow's DAG is built from: figures, t-SNE backends, optimizers and their
protocols, GAN models and transfer strategies.

They live here, in a module that imports nothing, because Snakemake reads them to build the DAG
(``workflow/rules/common.smk``) and the modules that implement them import torch or matplotlib:
``snakemake -n`` need not import either. Each implementing module keys its own table by these
names (``plots_stats.FIGURES``, ``plots_embed.EMBEDDING_FIGURES``, ``plots_introspect.
HIDDEN_LAYER_FIGURES``, ``gan.GAN_NETWORKS``, ``optimizers.OPTIMIZERS``), and ``tests/test_registry.py`` checks that they, the
rules and the config schema name the same things.

A name is also the file name of what it makes: ``results/<dataset>/stats/class_means.png`` is the
figure ``class_means``. File names are these identifiers (snake_case); a hyphen joins two of them
(``tsne-opentsne-scatter.png``: a method and a figure; ``weights-sheet.png``: a dump and its view).
"""

# statistics figure -> its label in the report (rule plot_stats)
STATS_FIGURES = {
    "samples": "sample images",
    "class_means": "class mean images",
    "class_stds": "class std images",
    "pixel_histograms": "pixel histograms per class",
    "mean_intensity": "mean intensity per class",
    "class_counts": "class counts",
    "train_vs_test": "train vs test",
    "conversion": "images as read and as 28 x 28",  # a dataset of the user's own images only
}

# the statistics figures drawn from the dataset cache; the others from the statistics summary
STATS_FIGURES_FROM_DATASET = ("samples", "conversion")

# t-SNE implementations (rule tsne, one job per backend), and those that read the shared
# neighbour graph rather than search their own
TSNE_BACKENDS = ("opentsne", "multicore", "sklearn", "torch")
GRAPH_BACKENDS = ("opentsne",)
# embed.tsne.backends' ``auto``, a job of its own (tsne-auto.npz) that picks its backend where it
# runs, not where the DAG is built (under SLURM, the login node): ``embed.job_tsne_backend``
AUTO_TSNE = "auto"

# per embedding method (rule plot_embedding), and PCA's own (rule plot_pca)
EMBEDDING_FIGURES = ("scatter", "classes", "axes", "values")
PCA_FIGURES = ("3d", "variance", "components")

# what a recorded run's weight and gradient dumps become (rules plot_weights, plot_gradients,
# introspect_animation_page); the GIFs' pages are named after their GIF
WEIGHT_FILES = ("weights.gif", "weights-sheet.png", "weight_bands.png")
GRADIENT_FILES = ("gradient_flow.png", "gradient_norms.png", "gradients.gif", "gradients-sheet.png")
ANIMATIONS = ("weights", "gradients")

# drawn from a classifier checkpoint's hidden layers (rule plot_hidden_layers)
HIDDEN_LAYER_FIGURES = ("filters", "feature_maps", "linear_weights", "logits", "saliency", "mistakes")

# the optimizer comparison (rules optimizer_sweep, optimizer_seeds): each optimizer at its usual
# settings with a tuned rate, and the article's five with the article's settings
PROTOCOLS = ("article", "tuned")
TUNED_OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam",
                    "radam")
ARTICLE_OPTIMIZERS = ("sgd_momentum", "rmsprop", "adam", "adadelta", "adagrad")

# conditional GANs (rule gan_train), the GIF of their fixed-noise samples over training and its
# sheet (rule plot_gan, which also draws the figures, each with its report label)
GAN_MODELS = ("cgan_mlp", "dcgan")
GAN_ANIMATION_FILES = ("samples.gif", "samples-sheet.png")
GAN_FIGURES = {
    "losses": "losses",
    "quality": "quality over epochs",
    "classes": "samples per class",
    "pixel_histograms": "pixel histograms, real vs generated",
}

# what is wrong with the data (rule plot_quality): figure -> its label in the report
QUALITY_FIGURES = {
    "label_issues": "suspected label errors",
    "label_matrix": "given vs suggested labels",
    "duplicates": "duplicates and leaks",
    "outliers": "outliers",
}

# what rule data_quality writes besides its per-image scores, scores.npz
QUALITY_TABLES = ("label_issues.csv", "label_joint.csv", "duplicates.csv", "outliers.csv", "classes.csv",
                  "summary.csv")

# transfer learning: how the target is trained, and the prefix of an ImageNet source's name
STRATEGIES = ("scratch", "frozen", "finetune")
IMAGENET_PREFIX = "imagenet_"
