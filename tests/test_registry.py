"""The names the DAG is built from (mnistflow.registry) are the names the library implements."""

import re
import subprocess
import sys
from pathlib import Path

from mnistflow import registry

REPO = Path(__file__).resolve().parents[1]


def test_every_registered_figure_is_drawn_by_its_plots_module():
    from mnistflow import plots_embed, plots_introspect, plots_stats

    assert list(plots_stats.FIGURES) == list(registry.STATS_FIGURES)
    assert list(plots_embed.EMBEDDING_FIGURES) == list(registry.EMBEDDING_FIGURES)
    assert list(plots_embed.PCA_FIGURES) == list(registry.PCA_FIGURES)
    assert list(plots_introspect.HIDDEN_LAYER_FIGURES) == list(registry.HIDDEN_LAYER_FIGURES)


def test_every_registered_gan_is_built_and_every_gan_figure_has_its_caption():
    from mnistflow.gan import GAN_NETWORKS

    assert list(GAN_NETWORKS) == list(registry.GAN_MODELS)
    for figure in registry.GAN_FIGURES:
        assert (REPO / f"workflow/report/gan_{figure}.rst").is_file(), figure


def test_every_registered_optimizer_and_tsne_backend_is_implemented():
    from mnistflow.embed import TSNE_FUNCTIONS
    from mnistflow.optimizers import ARTICLE, OPTIMIZERS

    assert list(OPTIMIZERS) == list(registry.TUNED_OPTIMIZERS)
    assert list(ARTICLE) == list(registry.ARTICLE_OPTIMIZERS)
    assert list(TSNE_FUNCTIONS) == list(registry.TSNE_BACKENDS)
    assert set(registry.GRAPH_BACKENDS) <= set(registry.TSNE_BACKENDS)


def test_every_transfer_strategy_has_its_colour_and_label():
    from mnistflow.plots_transfer import STRATEGY_COLORS, STRATEGY_LABELS

    assert list(STRATEGY_COLORS) == list(STRATEGY_LABELS) == list(registry.STRATEGIES)


def test_the_statistics_caption_has_a_branch_per_figure():
    caption = (REPO / "workflow/report/stats_figure.rst").read_text()
    branches = re.findall(r'if figure == "(\w+)"', caption)
    assert sorted(branches) == sorted(registry.STATS_FIGURES)


def test_the_dag_reads_its_names_without_importing_torch_or_matplotlib():
    """Every mnistflow module common.smk imports, imported as Snakemake would: neither torch nor
    matplotlib comes with them (test_workflow's dry run also runs the checks with them blocked)."""
    text = (REPO / "workflow/rules/common.smk").read_text() + (REPO / "Snakefile").read_text()
    modules = set(re.findall(r"^from (mnistflow\.\w+) import", text, re.M))
    modules = sorted(modules | {f"mnistflow.{m}" for m in re.findall(r"^from mnistflow import (\w+)$", text, re.M)})
    assert "mnistflow.registry" in modules and "mnistflow.config" in modules
    code = f"import sys; import {', '.join(modules)}; print(sorted({{'torch', 'matplotlib'}} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=REPO)
    assert result.stdout.strip() == "[]"
