"""The report's headline numbers and GIF pages."""

from __future__ import annotations

import base64
import itertools
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts
from PIL import Image

from mnistflow.animation import save_gif
from mnistflow.report import gif_page, headline, optimizers_table
from browser import Explorer, browser_unavailable, chromium_page
from tiny_workflow import snakemake


def write_tables(tmp_path):
    pd.DataFrame({"run": ["best", "first", "blowup"], "model": ["best", "first", "first"],
                  "optimizer": ["AdamW", "SGD", "SGD"], "lr": [0.01, 0.01, 1e12], "epochs": [10, 10, 2],
                  "validation_accuracy": [0.9962, 0.98, np.nan], "selected_epoch": [9, 10, np.nan],
                  "test_accuracy": [0.9953, 0.979, np.nan]}).to_csv(tmp_path / "leaderboard.csv", index=False)
    pd.DataFrame({"method": ["pca", "tsne-opentsne"], "points": [70000, 70000], "seconds": [1.0, 107.8],
                  "knn_accuracy": [0.4389, 0.9742], "trustworthiness": [0.735, 0.980]}).to_csv(
        tmp_path / "embed_quality.csv", index=False)
    pd.DataFrame({"protocol": ["article", "article", "tuned", "tuned"], "optimizer": ["adam", "rmsprop", "sgd", "nadam"],
                  "lr": [0.001, 0.01, 0.3, 0.002], "test_accuracy_mean": [0.90, 0.91, 0.633, 0.95],
                  "test_accuracy_std": [0.01, 0.014, 0.464, 0.002], "seeds": [3] * 4, "diverged": [0] * 4,
                  # rmsprop's lead over adam excludes zero, nadam's over sgd does not
                  "lead_over_next": [np.nan, 0.01, np.nan, 0.317], "lead_low": [np.nan, 0.004, np.nan, -0.9],
                  "lead_high": [np.nan, 0.016, np.nan, 1.5]}).to_csv(tmp_path / "optimizers.csv", index=False)
    pd.DataFrame({"epoch": ["1", "2", "final", "real data"], "samples": [2000, 2000, 10000, 10000],
                  "frechet_distance": [84.7, 57.9, 55.7, 1.9], "conditional_accuracy": [0.2, 0.57, 0.556, 0.998],
                  "class_entropy_bits": [2.87, 3.13, 3.12, 3.32]}).to_csv(
        tmp_path / "gan_quality.csv", index=False)
    pd.DataFrame({"strategy": ["scratch"] * 4 + ["frozen"] * 4, "budget": ["10", "10", "full", "full"] * 2,
                  "per_class": [10.0, 10.0, 6000.0, 6000.0] * 2, "labels": [100, 100, 60000, 60000] * 2,
                  "seed": [0, 1] * 4, "test_accuracy": [0.71, 0.73, 0.86, 0.87, 0.68, 0.69, 0.85, 0.86],
                  "steps": [150, 200, 800, 800] * 2, "stopped": ["converged", "converged", "cap", "cap"] * 2,
                  "seconds": [6.0] * 8}).to_csv(tmp_path / "transfer.csv", index=False)


def test_headline_names_a_winner_only_where_its_paired_lead_excludes_zero(tmp_path):
    from mnistflow.optimizers import summarize

    def cells_of(accuracies: dict) -> list[str]:
        runs = pd.DataFrame([{"protocol": "tuned", "optimizer": name, "seed": seed, "epoch": 1, "lr_setting": 0.1,
                              "test_accuracy": acc, "test_loss": 1 - acc, "status": "ok", "selected": True}
                             for name, values in accuracies.items() for seed, acc in enumerate(values)])
        summarize(runs).to_csv(tmp_path / "optimizers.csv", index=False)
        body = publish_parts(optimizers_table({"mnist": tmp_path / "optimizers.csv"}), writer="html",
                             settings_overrides={"halt_level": 2})["html_body"]
        return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", body, re.S)]

    # the seeds' spreads overlap (sgd 90 +- 5 against adam 89 +- 5), but sgd leads on every seed by
    # 1 point: paired, the lead is clear (the rule of one std each would have said "none clear")
    cells = cells_of({"sgd": [0.90, 0.95, 0.85], "adam": [0.89, 0.94, 0.84]})
    assert cells[:3] == ["mnist", "tuned", "sgd (lr 0.1)"]
    assert cells[3] == "+1.00 points over adam, 95% interval +1.00 to +1.00 (paired over 3 seeds)"
    # ahead on two seeds, behind on one: no winner, and the interval says why
    cells = cells_of({"sgd": [0.92, 0.91, 0.85], "adam": [0.89, 0.90, 0.88]})
    assert cells[2] == "none clear: sgd (lr 0.1) and adam"
    assert re.fullmatch(r"\+0\.33 points over adam, 95% interval -[\d.]+ to \+[\d.]+ \(paired over 3 seeds\): "
                        r"the interval includes zero", cells[3])


def test_headline_reads_each_table(tmp_path):
    write_tables(tmp_path)
    text = headline({"mnist": tmp_path / "leaderboard.csv"}, {"mnist": tmp_path / "embed_quality.csv"},
                    {"mnist": tmp_path / "optimizers.csv"}, {"mnist": {"dcgan": tmp_path / "gan_quality.csv"}},
                    {"mnist → fashion_mnist": tmp_path / "transfer.csv"})
    body = publish_parts(text, writer="html", settings_overrides={"halt_level": 2})["html_body"]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", body, re.S)]
    # best run: the top row of the leaderboard (ranked on validation; a diverged run has no accuracy)
    assert cells[:6] == ["mnist", "best", "best, AdamW lr 0.01, 10 epochs", "99.62%", "9", "99.53%"]
    assert "picked on the validation split" in text and "best test accuracy" not in text
    assert ["mnist", "tsne-opentsne", "70,000", "107.8 s", "97.42%", "0.980"] == cells[12:18]
    # winners: highest mean test accuracy per protocol, where the paired lead's interval excludes zero
    assert cells[18:24] == ["mnist", "article", "rmsprop (lr 0.01)",
                            "+1.00 points over adam, 95% interval +0.40 to +1.60 (paired over 3 seeds)",
                            "91.00% ± 1.40", "adam, 90.00%"]
    assert cells[24:30] == ["mnist", "tuned", "none clear: nadam (lr 0.002) and sgd",
                            "+31.70 points over sgd, 95% interval -90.00 to +150.00 (paired over 3 seeds): the "
                            "interval includes zero", "95.00% ± 0.20", "sgd, 63.30%"]
    # GANs: the final row, scored on the most samples, beside the real-data floor
    assert cells[30:37] == ["mnist", "dcgan", "55.7", "1.9", "55.60%", "3.12", "10,000"]
    # transfer: means over seeds by budget
    assert cells[37:] == ["mnist → fashion_mnist", "scratch", "72.00%", "86.50%",
                          "mnist → fashion_mnist", "frozen", "68.50%", "85.50%"]


def test_gif_page_embeds_the_animation(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 20, 30), dtype=np.uint8)
    save_gif([Image.fromarray(f).convert("RGB") for f in frames], tmp_path / "weights.gif", milliseconds=200)
    page = gif_page(tmp_path / "weights.gif", "weights <run>")
    data = re.search(r'src="data:image/gif;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(data) == (tmp_path / "weights.gif").read_bytes()
    assert "<title>weights &lt;run&gt;</title>" in page


# ---------------------------------------------------------------------------------------------
# The report of the tiny-dataset run, built by Snakemake and opened in headless Chromium

CATEGORIES = ["1. Data", "2. Embeddings", "3. Models", "4. Optimizers", "5. Weights & gradients",
              "6. Hidden layers", "7. GAN", "8. Transfer", "9. Data quality"]
# The item shown (an image, or a page in an iframe), once it is another than ``previous`` and,
# for an image, decoded: its address, else null.
SHOWN_ITEM = """previous => {
    const images = [...document.images].filter(i => i.src.includes('data/raw/'));
    const frames = [...document.querySelectorAll('iframe')].filter(f => f.src.includes('data/raw/'));
    const items = [...images, ...frames];
    if (items.length !== 1 || items[0].src === previous) return null;
    return images.every(i => i.complete && i.naturalWidth > 0) ? items[0].src : null;
}"""
FRAME_CONTENT = """() => ({
    images: [...document.images].map(i => i.complete && i.naturalWidth > 0),
    rows: document.querySelectorAll('tbody tr').length,
})"""


def expected_items(results: Path) -> list[str]:
    """Every figure (PNG) and HTML page (a GIF or a table) of the run: what the report must show."""
    return sorted(p.name for p in results.rglob("*") if p.suffix in (".png", ".html"))


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    snakemake(tiny_run["workdir"], "--configfile", "config.yaml", "--report", str(out / "report.zip"))
    with zipfile.ZipFile(out / "report.zip") as archive:
        archive.extractall(out)
    return out / "report"


@pytest.mark.workflow
def test_report_holds_every_figure_gif_and_table(report, tiny_run):
    shown = sorted(p.name for p in (report / "data/raw").rglob("*") if p.is_file())
    assert shown == expected_items(tiny_run["results_as_run"])
    results = tiny_run["results_as_run"]
    assert {p.stem for p in results.rglob("*.gif")} <= {Path(name).stem for name in shown}
    for table in ("stats", "leaderboard", "embed_quality", "optimizers", "gan_quality", "transfer"):
        assert f"{table}.html" in shown


@pytest.mark.workflow
def test_report_displays_in_a_browser(report, tiny_run, tmp_path):
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"no browser: {reason}")
    screenshots = tmp_path / "screenshots"
    screenshots.mkdir()
    print(f"screenshots in {screenshots}")
    leaderboard = pd.read_csv(tiny_run["results_as_run"] / "tiny/train/leaderboard.csv")
    shown, gif_frames = [], {}
    with chromium_page(1400, 1000) as (page, log):
        home = (report / "report.html").as_uri()
        page.goto(home)

        # the description page: config values and the headline numbers from the result tables
        description = page.inner_text("body")
        assert "Datasets in this run: tiny." in description
        assert "GANs: cgan_mlp, dcgan, 2 epoch(s)" in description
        best = leaderboard.dropna(subset=["validation_accuracy"]).iloc[0]
        assert re.search(rf"{best.run}\s+{best.model}, {best.optimizer}.*\s+{100 * best.validation_accuracy:.2f}%\s+"
                         rf"{best.selected_epoch:.0f}\s+{100 * best.test_accuracy:.2f}%", description)
        page.screenshot(path=screenshots / "0-workflow.png", full_page=True)
        sidebar = [s.strip() for s in page.locator("li > a > span").all_inner_texts()]
        assert sidebar[sidebar.index("About") + 1:] == CATEGORIES

        for number, category in enumerate(CATEGORIES, 1):
            page.goto(home)
            page.get_by_text(category, exact=True).click()
            eyes = page.locator("a[iconname=eye]")
            # several subcategories: a list of them first; one: its items at once
            subcategories = [None] if eyes.count() else page.locator("li > a > span").all_inner_texts()
            for sub in subcategories:
                if sub is not None:
                    page.goto(home)
                    page.get_by_text(category, exact=True).click()
                    page.get_by_text(sub, exact=True).click()
                # labels the viewer turns into toggles (e.g. figure: label efficiency | table)
                toggles = [fieldset.locator("label").all_inner_texts() for fieldset in page.locator("fieldset").all()]
                for choice in itertools.product(*toggles):
                    for value in choice:
                        page.locator("fieldset label", has_text=value).first.click()
                    shown += show_each_item(page, eyes, f"{category} {sub}", gif_frames)
            page.screenshot(path=screenshots / f"{number}-{category.split('. ')[1].replace(' ', '-')}.png")

    missing = sorted(set(expected_items(tiny_run["results_as_run"])) - set(shown))
    assert sorted(shown) == expected_items(tiny_run["results_as_run"]), (len(shown), missing)
    assert len(gif_frames) == 6 and all(gif_frames.values()), gif_frames
    assert log.errors == []
    assert [url for url in log.requests if not url.startswith(report.as_uri())] == []


def show_each_item(page, eyes, where: str, gif_frames: dict) -> list[str]:
    """Open every item listed (its eye button), wait until it has loaded and check it: images
    decoded, a table page's rows, a GIF page's animation moving. Returns the file names shown."""
    shown, source = [], None
    for row in range(eyes.count()):
        eyes.nth(row).click()
        source = page.wait_for_function(SHOWN_ITEM, arg=source, timeout=20_000).json_value()
        name = source.rsplit("/", 1)[-1]
        shown.append(name)
        if name.endswith(".html"):
            frame = page.locator("iframe").element_handle().content_frame()
            frame.wait_for_load_state("load")
            frame.wait_for_url(source)
            if name == "explorer.html":  # the embedding explorer works inside the report too
                explorer = Explorer(page, frame)
                index = explorer.js("window.mnistExplorer.data.index[0]")
                tooltip = explorer.hover(index)
                assert tooltip is not None and tooltip.index == index, name
                continue
            frame.wait_for_function("() => [...document.images].every(i => i.complete)")
            content = frame.evaluate(FRAME_CONTENT)
            assert all(content["images"]) and (content["images"] or content["rows"] > 0), name
            if content["images"]:  # a GIF page: it must be playing
                gif_frames[f"{where} {name}"] = is_moving(page, frame.locator("#animation"))
    return shown


def is_moving(page, element, looks: int = 20, interval_ms: int = 150) -> bool:
    """Whether the element's picture changes within ``looks`` screenshots ``interval_ms`` apart
    (a GIF of two 300 ms frames may look the same at two instants, never at twenty)."""
    first = element.screenshot()
    for _ in range(looks):
        page.wait_for_timeout(interval_ms)
        if element.screenshot() != first:
            return True
    return False
