"""The embedding explorer: the points it gathers, the page it writes, and the page in headless
Chromium, on the tiny run's explorer and on 70,000 synthetic points."""

from __future__ import annotations

import base64
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from browser import Explorer, browser_unavailable, chromium_page
from synthetic import explorer_set, sparse_images
from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding
from mnistflow.explorer import ExplorerPoints, compressed_images, explorer_page, fitted_ranges
from mnistflow.predictions import Predictions

# ---------------------------------------------------------------------------------------------
# What the page holds


def test_points_follow_the_embeddings_rows():
    dataset, embeddings, predictions = explorer_set(60, 40)
    rows = np.array([99, 3, 61, 59, 60, 0])  # test images are 60 and up
    subset = [Embedding(e.method, e.coords[rows], e.labels[rows], e.is_test[rows], rows, 1.0) for e in embeddings]
    points = ExplorerPoints.gather(subset, dataset, predictions)
    all_images = np.concatenate([dataset.train_images, dataset.test_images])
    assert np.array_equal(points.images, all_images[rows])
    assert points.labels.tolist() == np.concatenate([dataset.train_labels, dataset.test_labels])[rows].tolist()
    assert points.is_test.tolist() == [True, False, True, False, True, False]
    # a train image has no prediction; test image k has the prediction of test image k
    assert points.predicted.tolist() == [predictions.predicted[39], -1, predictions.predicted[1], -1,
                                         predictions.predicted[0], -1]
    assert np.isnan(points.confidence[1]) and points.confidence[0] == predictions.confidence[39]
    # test image 0 is a mistake (every 50th), test image 1 is not
    assert points.mistakes.tolist() == [False, False, False, False, True, False]
    assert points.methods() == ["tsne-opentsne", "umap", "pca"]
    assert np.array_equal(points.coords["umap"], subset[2].coords.astype(np.float32))


def test_points_refuse_embeddings_of_other_points_and_predictions_of_another_test_set():
    dataset, embeddings, predictions = explorer_set(60, 40)
    other = Embedding("umap", embeddings[2].coords[:50], embeddings[2].labels[:50], embeddings[2].is_test[:50],
                      np.arange(50), 1.0)
    with pytest.raises(ValueError, match="embeddings 'pca' and 'umap' hold different points"):
        ExplorerPoints.gather([embeddings[0], other], dataset, predictions)
    short = Predictions("best", predictions.labels[:30], predictions.predicted[:30], predictions.confidence[:30])
    with pytest.raises(ValueError, match="the predictions of run 'best' are for 30 test images whose labels are not "
                                         "those of dataset 'synthetic': rebuild them"):
        ExplorerPoints.gather(embeddings, dataset, short)
    # as many test images, other labels: predictions of another test set
    other_set = Predictions("best", np.roll(predictions.labels, 1), predictions.predicted, predictions.confidence)
    with pytest.raises(ValueError, match="are for 40 test images whose labels are not those of dataset"):
        ExplorerPoints.gather(embeddings, dataset, other_set)
    beyond = Embedding("pca", embeddings[0].coords, embeddings[0].labels, embeddings[0].is_test,
                       embeddings[0].index + 1, 1.0)
    with pytest.raises(ValueError, match="embedding 'pca' holds image index 100, but dataset 'synthetic' has 100 "
                                         "images: rebuild the embeddings"):
        ExplorerPoints.gather([beyond], dataset, predictions)


def test_images_inflate_back_to_their_bytes():
    images = sparse_images(np.arange(30) % 10, np.random.default_rng(1))
    raw = zlib.decompress(base64.b64decode(compressed_images(images)))
    assert np.array_equal(np.frombuffer(raw, dtype=np.uint8).reshape(images.shape), images)


def test_fitted_ranges_hold_every_point_at_one_scale():
    coords = np.array([[-3.0, 10.0], [5.0, 12.0], [1.0, 11.0]])
    (x0, x1), (y0, y1) = fitted_ranges(coords, (800, 400))
    assert (x1 - x0) / 800 == pytest.approx((y1 - y0) / 400)  # one unit is as many pixels along x and y
    assert x0 < -3 and x1 > 5 and y0 < 10 and y1 > 12
    assert (x0 + x1) / 2 == pytest.approx(1.0) and (y0 + y1) / 2 == pytest.approx(11.0)
    assert (x1 - x0) == pytest.approx(8 * 1.04)  # x is the tighter side: 2% margin each way


def test_page_is_one_file_that_requests_nothing():
    dataset, embeddings, predictions = explorer_set(60, 40)
    points = ExplorerPoints.gather(embeddings, dataset, predictions)
    page = explorer_page(points, "synthetic <map>", run="best")
    assert "<title>synthetic &lt;map&gt;</title>" in page
    # no element loads anything (inside the scripts, Bokeh's code holds a MathJax address it uses
    # for math text alone: that nothing is requested is checked in the browser)
    markup = re.sub(r"<(script|style)\b([^>]*)>.*?</\1>", r"<\1\2></\1>", page, flags=re.S)
    assert not re.search(r"<\w+\b[^>]*\b(src|href|data)\s*=", markup)
    assert "explorer.js" not in page and "window.mnistExplorer = new Explorer()" in page
    blob = re.search(r'<script type="application/octet-stream" id="explorer-pixels">([^<]+)</script>', page)
    assert zlib.decompress(base64.b64decode(blob.group(1))) == points.images.tobytes()
    assert "misclassified by best (1)" in page  # test image 0 of 40
    # the same points, the same bytes (Bokeh's own ids are random UUIDs)
    again = explorer_page(points, "synthetic <map>", run="best")
    model_ids = r'"p\d+"'  # Bokeh numbers its models on through a process: the second page's go on
    assert len(re.findall(model_ids, page)) > 50
    assert re.sub(model_ids, "", again) == re.sub(model_ids, "", page)


# ---------------------------------------------------------------------------------------------
# The page in headless Chromium


def check_explorer(explorer: Explorer, log, points: ExplorerPoints) -> dict:
    """Everything the page must do, checked on the page as a person uses it; returns what was
    measured on the way (ready time, hover latencies)."""
    rng = np.random.default_rng(0)
    mistakes = np.flatnonzero(points.mistakes)
    train_row = int(rng.choice(np.flatnonzero(~points.is_test)))
    test_row = int(rng.choice(np.flatnonzero(points.is_test & ~points.mistakes)))
    latencies = []

    # the pointer on a point: its own pixels, class, split and index
    for row in [train_row, test_row] + ([int(mistakes[0])] if len(mistakes) else []):
        assert explorer.screen_point(points.index[row]) == pytest.approx(explorer.drawn_at(points.index[row]), abs=0.5)
        tooltip = explorer.hover(int(points.index[row]))
        assert tooltip is not None, f"no tooltip on index {points.index[row]}"
        assert tooltip.index == points.index[row]
        assert np.array_equal(tooltip.image, points.images[row])
        assert tooltip.rows.get("class", tooltip.rows.get("given")) == points.classes[points.labels[row]]
        assert tooltip.rows["split"] == ("test" if points.is_test[row] else "train")
        assert tooltip.rows["index"] == str(points.index[row])
        if points.mistakes[row]:  # the true and the predicted label, and the confidence
            assert tooltip.rows["predicted"] == points.classes[points.predicted[row]]
            assert tooltip.rows["confidence"] == f"{100 * float(points.confidence[row]):.1f}%"
        else:
            assert "predicted" not in tooltip.rows
        latencies.append(tooltip.latency_ms)

    # data quality's layers: each ringed where it says, and its findings in the hover
    rings = points.rings
    assert explorer.js("window.mnistExplorer.ringRenderers.length") == len(rings)
    for layer, (name, rows) in enumerate(rings.items()):
        drawn = explorer.js(f"[...window.mnistExplorer.ringRenderers[{layer}].view.filter.indices]")
        assert sorted(drawn) == rows.tolist(), name
        if name == "mistakes" or not len(rows):
            continue
        row = int(rows[0])
        tooltip = explorer.hover(int(points.index[row]))
        quality = points.quality
        assert tooltip is not None, name
        if name == "duplicate":  # an exact copy may lie on the very spot of its partner, shown instead
            assert tooltip.index in (points.index[row], quality["duplicate_of"][row])
            row = int(np.flatnonzero(points.index == tooltip.index)[0])
        assert tooltip.index == points.index[row], name
        if name == "label_issue":
            assert tooltip.rows["given"] == points.classes[points.labels[row]] and "class" not in tooltip.rows
            assert tooltip.rows["suggested"] == points.classes[quality["suggested"][row]]
            assert float(tooltip.rows["label quality"]) == pytest.approx(float(quality["label_quality"][row]),
                                                                         rel=0.05)
        if name == "duplicate":
            assert tooltip.rows["copy of"] == (f"{quality['duplicate_of'][row]} "
                                               f"(distance {quality['duplicate_distance'][row]:.2f})")
        if name == "outlier":
            assert tooltip.rows["outlier score"] == f"{quality['outlier_score'][row]:.1f}"

    # a class hidden from the legend: none of its points is drawn, ringed or hovered, the others
    # are (its colour counted with the mistakes' rings hidden: their antialiased edges are grey)
    hidden = int(points.labels[train_row])
    colours = explorer.js("window.mnistExplorer.classRenderers.map(r => r.glyph.fill_color.value)")
    ringed = lambda: set(explorer.js("[...window.mnistExplorer.ringRenderers[0].view.filter.indices]"))  # noqa: E731
    assert ringed() == set(mistakes.tolist())
    ring_labels = explorer.js("window.mnistExplorer.ringLabels")
    for label in ring_labels:
        explorer.toggle_class(label)
    before = explorer.screenshot()
    explorer.toggle_class(points.classes[hidden])
    explorer.document.wait_for_function(f"!window.mnistExplorer.classRenderers[{hidden}].visible")
    after = explorer.screenshot()
    assert ringed() == {row for row in mistakes.tolist() if points.labels[row] != hidden}
    for label, colour in enumerate(colours):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        count = lambda shot: int((np.abs(shot.astype(int) - rgb).max(axis=-1) <= 2).sum())  # noqa: E731
        if np.any(points.labels == label):
            assert count(before) > 0, f"class {label} not drawn"
            assert (count(after) == 0) == (label == hidden), f"class {label}: {count(after)} pixels"
    tooltip = explorer.hover(int(points.index[train_row]))
    assert tooltip is None or points.labels[points.index == tooltip.index][0] != hidden
    explorer.toggle_class(points.classes[hidden])
    explorer.document.wait_for_function(f"window.mnistExplorer.classRenderers[{hidden}].visible")
    assert ringed() == set(mistakes.tolist())
    for label in ring_labels:
        explorer.toggle_class(label)

    # look-up: the point is chosen, ringed and centred; switching keeps it ringed
    chosen = int(points.index[test_row])
    explorer.look_up(str(chosen))
    explorer.document.wait_for_function("window.mnistExplorer.chosen >= 0")
    frame = explorer.frame()
    x, y = explorer.screen_point(chosen)
    assert x == pytest.approx(frame["left"] + frame["width"] / 2, abs=1)
    assert y == pytest.approx(frame["top"] + frame["height"] / 2, abs=1)
    labels = explorer.js("window.mnistExplorer.buttons.labels")
    for button in labels[1:] + labels[:1]:
        explorer.switch(button)
        method = explorer.method_of(button)
        ring = explorer.chosen()
        assert ring["index"] == [chosen]
        assert (ring["x"][0], ring["y"][0]) == pytest.approx(tuple(points.coords[method][test_row]), rel=1e-6)
        assert explorer.point(chosen) == pytest.approx(tuple(points.coords[method][test_row]), rel=1e-6)
        assert explorer.hover(chosen).index == chosen
    # what is not an index of the map is said so, and changes nothing
    status = lambda: re.sub(r"<[^>]+>", "", explorer.js("window.mnistExplorer.status.text"))  # noqa: E731
    explorer.look_up("99999999")
    assert status() == f"Index 99999999 is not among the {len(points.index):,} images of this map."
    for text in ("1.5", "-1", "1e3", "twelve"):
        explorer.look_up(text)
        assert status() == f"{text} is not an index: type a whole number, e.g. {points.index[0]}."
    explorer.look_up("  ")
    assert explorer.chosen()["index"] == [chosen]
    # the same index again, after panning away: centred again
    explorer.frame_times("drag", steps=5)
    explorer.look_up(f" {chosen} ")
    x, y = explorer.screen_point(chosen)
    assert (x, y) == pytest.approx((frame["left"] + frame["width"] / 2, frame["top"] + frame["height"] / 2), abs=1)

    assert log.errors == []
    return {"ready_ms": explorer.ready_ms, "hover_ms": latencies}


def page_requests(log, path: Path) -> list[str]:
    return [url for url in log.requests if url != path.resolve().as_uri()]


@pytest.fixture(scope="module")
def large_explorer(tmp_path_factory):
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"no browser: {reason}")
    dataset, embeddings, predictions = explorer_set(60_000, 10_000)
    points = ExplorerPoints.gather(embeddings, dataset, predictions)
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(explorer_page(points, "70,000 synthetic points", run="best"))
    return path, points


def test_explorer_of_70000_points_in_a_browser(large_explorer):
    path, points = large_explorer
    assert path.stat().st_size < 40e6
    with chromium_page() as (page, log):
        measured = check_explorer(Explorer.open(page, path), log, points)
    assert page_requests(log, path) == []
    print(f"70,000 points: {path.stat().st_size / 1e6:.1f} MB, {measured}")


@pytest.mark.workflow
def test_explorer_of_the_tiny_run_in_a_browser(tiny_run):
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"no browser: {reason}")
    results = tiny_run["results_as_run"] / "tiny"
    path = results / "embed" / "explorer.html"
    methods = ("tsne-auto", "umap", "pca")
    [predictions_file] = (results / "train").glob("*/test_predictions.npz")  # train.best_run's alone
    predictions = Predictions.load(predictions_file)
    quality = atomic.load_arrays(results / "quality" / "scores.npz")
    points = ExplorerPoints.gather([Embedding.load(results / "embed" / f"{m}.npz") for m in methods],
                                   load_dataset(results / "data" / "dataset.npz"), predictions, quality)
    # the digits hold suspected label errors (planted), a duplicate (planted) and outliers: a layer with
    # none would test nothing
    assert all(len(points.rings[layer]) for layer in ("label_issue", "duplicate", "outlier"))
    with chromium_page() as (page, log):
        check_explorer(Explorer.open(page, path), log, points)
    assert page_requests(log, path) == []
