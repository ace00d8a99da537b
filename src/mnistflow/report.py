"""What the Snakemake report needs beyond the figures: the headline numbers of a run, read from
its result tables, as reStructuredText for the workflow description page, and HTML pages for
GIFs and tables (the report viewer shows svg, png, jpeg, pdf and html inline, not GIFs or CSV)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd


def rst_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def models_table(leaderboards: dict[str, Path]) -> str:
    rows = []
    for dataset, path in leaderboards.items():
        best = pd.read_csv(path).dropna(subset=["validation_accuracy"]).iloc[0]
        rows.append([dataset, str(best.run), f"{best.model}, {best.optimizer} lr {best.lr:g}, {best.epochs} epochs",
                     percent(best.validation_accuracy), f"{best.selected_epoch:.0f}", percent(best.test_accuracy)])
    return rst_table("Best training run, picked on the validation split (leaderboard.csv); the test set is read "
                     "once, for the picked epoch",
                     ["dataset", "run", "recipe", "validation accuracy", "epoch picked", "test accuracy"], rows)


def embeddings_table(qualities: dict[str, Path]) -> str:
    rows = []
    for dataset, path in qualities.items():
        for row in pd.read_csv(path).itertuples():
            rows.append([dataset, row.method, f"{row.points:,}", f"{row.seconds:.1f} s", percent(row.knn_accuracy),
                         f"{row.trustworthiness:.3f}"])
    return rst_table("Embeddings (embed_quality.csv): kNN accuracy of test points in 2-D",
                     ["dataset", "method", "points", "wall time", "kNN accuracy", "trustworthiness"], rows)


def optimizers_table(comparisons: dict[str, Path]) -> str:
    from .optimizers import ranked, verdict

    rows = []
    for dataset, path in comparisons.items():
        table = pd.read_csv(path)
        for protocol, group in ranked(table).groupby("protocol", sort=False):
            best, runner_up = group.iloc[0], group.iloc[1] if len(group) > 1 else None
            name, why = verdict(group)
            rows.append([dataset, str(protocol), name + _failed_seeds(best), why,
                         f"{percent(best.test_accuracy_mean)} ± {100 * best.test_accuracy_std:.2f}",
                         "–" if runner_up is None else
                         f"{runner_up.optimizer}, {percent(runner_up.test_accuracy_mean)}{_failed_seeds(runner_up)}"])
    return rst_table("Optimizer winner under each protocol (optimizers.csv, mean ± std over seeds; a diverged seed "
                     "counts at chance accuracy; a winner is named only where its paired lead's 95% interval "
                     "excludes zero)", ["dataset", "protocol", "winner", "lead", "test accuracy", "runner-up"], rows)


def _failed_seeds(row) -> str:
    return f" ({int(row.diverged)} of {int(row.seeds)} seeds diverged)" if row.diverged else ""


def gan_table(qualities: dict[str, dict[str, Path]]) -> str:
    """``qualities``: dataset -> GAN model -> its gan_quality.csv."""
    rows = []
    for dataset, models in qualities.items():
        for model, path in models.items():
            quality = pd.read_csv(path, dtype={"epoch": str}).set_index("epoch")
            final = quality.loc["final"]
            floor = quality.loc["real data"] if "real data" in quality.index else None
            rows.append([dataset, model, f"{final.frechet_distance:.1f}",
                         "–" if floor is None else f"{floor.frechet_distance:.1f}",
                         percent(final.conditional_accuracy), f"{final.class_entropy_bits:.2f}",
                         f"{int(final.samples):,}"])
    if not rows:
        return ""
    return rst_table("GAN quality at the end of training (gan_quality.csv: the final row, against the "
                     "training images the classifier held out, and the real-data floor: as many test images, "
                     "never trained on, scored the same way)",
                     ["dataset", "model", "Fréchet distance", "real-data floor", "conditional accuracy",
                      "class entropy (bits)", "samples"], rows)


def transfer_table(results: dict[str, Path]) -> str:
    from .transfer_results import summarise

    summaries = {pair: summarise(pd.read_csv(path, dtype={"budget": str})) for pair, path in results.items()}
    if not summaries:
        return ""
    budgets = list(dict.fromkeys(b for summary in summaries.values() for b in summary.budget))
    rows = []
    for pair, summary in summaries.items():
        for strategy, group in summary.groupby("strategy", sort=False):
            accuracy = dict(zip(group.budget, group.test_accuracy_mean))
            rows.append([pair, str(strategy), *(percent(accuracy[b]) if b in accuracy else "–" for b in budgets)])
    return rst_table("Transfer: mean test accuracy over seeds by labels per class (transfer.csv)",
                     ["source → target", "strategy", *budgets], rows)


def headline(leaderboards: dict, embed_qualities: dict, optimizer_tables: dict, gan_qualities: dict,
             transfer_results: dict) -> str:
    """The report's headline (reStructuredText): a table per part, read from the result tables."""
    sections = [models_table(leaderboards), embeddings_table(embed_qualities), optimizers_table(optimizer_tables),
                gan_table(gan_qualities), transfer_table(transfer_results)]
    return "\n".join(s for s in sections if s)


def gif_page(gif: str | Path, title: str) -> str:
    """A self-contained HTML page showing the GIF (embedded as a data URI), so it plays in the report."""
    data = base64.b64encode(Path(gif).read_bytes()).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ margin: 0; font-family: sans-serif; }} img {{ max-width: 100%; height: auto; }}</style></head>
<body>
<img id="animation" alt="{html.escape(title)}" src="data:image/gif;base64,{data}">
</body>
</html>
"""


PAGE_STYLE = """body { margin: 0.5em; font-family: sans-serif; font-size: 13px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; max-width: 40em; overflow-wrap: anywhere; }
th { background: #eee; position: sticky; top: 0; }
tr:nth-child(even) td { background: #f8f8f8; }"""


def table_page(table: str | Path, title: str) -> str:
    """The CSV as an HTML table (numbers to 4 significant digits), with the CSV itself to download."""
    frame = pd.read_csv(table)
    data = base64.b64encode(Path(table).read_bytes()).decode("ascii")
    body = frame.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="–", border=0)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head>
<body>
<p>{html.escape(title)}: {len(frame):,} rows.
<a download="{html.escape(Path(table).name)}" href="data:text/csv;base64,{data}">Download {html.escape(Path(table).name)}</a></p>
{body}
</body>
</html>
"""
