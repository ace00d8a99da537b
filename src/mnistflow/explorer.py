"""An interactive map of every embedded image: one self-contained HTML page per dataset.

Bokeh draws the points, pans, zooms, and hides a class from its legend; ``explorer.js`` adds one
tooltip with the image itself for the point nearest the pointer, the switch between embeddings,
the look-up of an index and the chosen point's ring. Every script, style and byte of data is
inline: the page makes no request, so it works opened from disk, inside the Snakemake report and
offline. The images travel zlib-compressed, and the browser inflates them itself (sizes and
times: bench/README.md, "The embedding explorer").
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import uuid
import zlib
from dataclasses import dataclass
from importlib import resources
from typing import Iterator, Sequence

import numpy as np

from .datasets import Dataset
from .embed import Embedding
from .palette import class_colours
from .predictions import Predictions

# A method's name in the switch; a method not listed is shown by its own name.
METHOD_NAMES = {"pca": "PCA", "umap": "UMAP", "tsne-opentsne": "t-SNE (openTSNE)",
                "tsne-multicore": "t-SNE (MulticoreTSNE)", "tsne-sklearn": "t-SNE (scikit-learn)",
                "tsne-torch": "t-SNE (torch)", "tsne-auto": "t-SNE"}
# t-SNE and UMAP separate the classes best, so the page opens on them
METHOD_ORDER = ("tsne", "umap", "pca")
# outside the class palette (palette.class_colours)
MISTAKE_COLOUR = "black"
CHOSEN_COLOUR = "#ff00ff"
# the layers of rings, in the legend's order: ExplorerPoints' flag -> its marker (black outlines,
# told apart by shape) and what its legend entry says
RINGS = {"mistakes": ("circle", "misclassified by {run}"), "label_issue": ("diamond", "suspected label error"),
         "duplicate": ("square", "duplicate (exact or near)"), "outlier": ("triangle", "far from its class")}
FRAME_SIZE = (760, 640)  # the map's pixels, without axes and legend


TEMPLATE = """
{% block postamble %}
<style>{{ explorer_css }}</style>
<script type="application/octet-stream" id="explorer-pixels">{{ pixels }}</script>
<script>{{ explorer_js }}</script>
{% endblock %}
"""

CSS = """
body { font-family: system-ui, sans-serif; margin: 8px; }
#explorer-tooltip { position: fixed; z-index: 10; pointer-events: none; display: flex; gap: 8px;
  padding: 6px; background: #fff; border: 1px solid #888; border-radius: 4px;
  box-shadow: 0 2px 6px rgba(0, 0, 0, .3); font-size: 13px; }
#explorer-tooltip[hidden] { display: none; }
#explorer-tooltip.mistake { border: 2px solid """ + MISTAKE_COLOUR + """; }
#explorer-tooltip.mistake tr:nth-child(n+4) td:last-child { font-weight: bold; }
#explorer-tooltip canvas { image-rendering: pixelated; background: #000; }
#explorer-tooltip td:first-child { color: #555; padding-right: 6px; }
"""


@dataclass(frozen=True)
class ExplorerPoints:
    """What the page shows of each point: every embedding's coordinates (rows in one order), the
    image, the label and split, and the best run's prediction for a test image."""

    coords: dict[str, np.ndarray]  # method -> (n, 2) float32
    images: np.ndarray  # (n, h, w) uint8
    labels: np.ndarray  # (n,) int
    is_test: np.ndarray  # (n,) bool
    index: np.ndarray  # (n,) position in train followed by test
    predicted: np.ndarray  # (n,) predicted class of a test image, -1 for none
    confidence: np.ndarray  # (n,) its probability, NaN for none
    mistakes: np.ndarray  # (n,) bool: a test image the run classifies wrongly
    classes: tuple[str, ...]
    # what data quality found (quality.DataQuality.scores), None without it
    quality: dict[str, np.ndarray] | None = None

    @property
    def rings(self) -> dict[str, np.ndarray]:
        """Each layer of rings (RINGS) this page has: its rows."""
        layers = {"mistakes": np.flatnonzero(self.mistakes)}
        if self.quality is not None:
            layers |= {name: np.flatnonzero(self.quality[name]) for name in ("label_issue", "duplicate", "outlier")}
        return layers

    @classmethod
    def gather(cls, embeddings: Sequence[Embedding], dataset: Dataset, predictions: Predictions | None = None,
               quality: dict[str, np.ndarray] | None = None) -> "ExplorerPoints":
        """``quality``: the per-image scores of data quality (``quality.DataQuality.scores``), of
        every image of ``dataset``."""
        if not embeddings:
            raise ValueError("the explorer needs at least one embedding")
        first = embeddings[0]
        for other in embeddings[1:]:
            if not np.array_equal(other.index, first.index):
                raise ValueError(f"embeddings {first.method!r} and {other.method!r} hold different points: "
                                 "rebuild them from the same PCA projection")
        n_train, n_test = len(dataset.train_images), len(dataset.test_images)
        index = np.asarray(first.index)
        if len(index) and (index.min() < 0 or index.max() >= n_train + n_test):
            raise ValueError(f"embedding {first.method!r} holds image index {index.max()}, but dataset "
                             f"{dataset.name!r} has {n_train + n_test} images: rebuild the embeddings")
        images = np.concatenate([dataset.train_images, dataset.test_images])[index]
        labels = np.concatenate([dataset.train_labels, dataset.test_labels])[index]
        is_test = index >= n_train
        predicted = np.full(len(index), -1, dtype=np.int16)
        confidence = np.full(len(index), np.nan, dtype=np.float32)
        mistakes = np.zeros(len(index), dtype=bool)
        if predictions is not None:
            if not np.array_equal(predictions.labels, dataset.test_labels):
                raise ValueError(f"the predictions of run {predictions.run!r} are for {len(predictions.labels)} test "
                                 f"images whose labels are not those of dataset {dataset.name!r}: rebuild them")
            predicted[is_test] = predictions.predicted[index[is_test] - n_train]
            confidence[is_test] = predictions.confidence[index[is_test] - n_train]
            mistakes[is_test] = np.isin(index[is_test] - n_train, predictions.wrong)
        if quality is not None:
            if not np.array_equal(quality["labels"], np.concatenate([dataset.train_labels, dataset.test_labels])):
                raise ValueError(f"the data-quality scores are for other images than dataset {dataset.name!r}'s: "
                                 "rebuild them")
            quality = quality_columns(quality, index)
        return cls(coords={e.method: np.asarray(e.coords, dtype=np.float32) for e in embeddings},
                   images=images, labels=labels.astype(np.int16), is_test=is_test, index=index,
                   predicted=predicted, confidence=confidence, mistakes=mistakes, classes=tuple(dataset.classes),
                   quality=quality)

    def methods(self) -> list[str]:
        """The embeddings in the switch's order."""
        rank = {prefix: i for i, prefix in enumerate(METHOD_ORDER)}
        return sorted(self.coords, key=lambda m: rank.get(m.split("-")[0], len(rank)))


def quality_columns(scores: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """What the page shows of data quality at the images ``index``: three flags, the suggested
    label and its label quality for a suspected error, the nearest copy (its index, distance)
    and the outlier score."""
    issue = scores["issue_rank"][index] >= 0
    partner = scores["duplicate_of"][index]
    outlier = scores["outlier_rank"][index] >= 0
    return {"label_issue": issue, "suggested": np.where(issue, scores["suggested"][index], -1).astype(np.int16),
            "label_quality": np.where(issue, scores["label_quality"][index], np.nan).astype(np.float32),
            "duplicate": partner >= 0, "duplicate_of": partner.astype(np.int32),
            "duplicate_distance": scores["duplicate_distance"][index].astype(np.float32), "outlier": outlier,
            "outlier_score": np.where(outlier, scores["outlier_score"][index], np.nan).astype(np.float32)}


def compressed_images(images: np.ndarray) -> str:
    """The images' bytes, zlib-compressed and base64-encoded, as the page inflates them."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(images, dtype=np.uint8).tobytes(), 6)).decode()


def fitted_ranges(coords: np.ndarray, frame: tuple[int, int], margin: float = 0.02) -> tuple[tuple, tuple]:
    """x and y ranges around every point with one scale on both axes, so that distances read
    alike in every direction (explorer.js fits a switched embedding the same way)."""
    low, high = coords.min(axis=0).astype(float), coords.max(axis=0).astype(float)
    unit = (1 + 2 * margin) * max((high - low) / np.asarray(frame, dtype=float))
    centre, half = (low + high) / 2, unit * np.asarray(frame, dtype=float) / 2
    return (centre[0] - half[0], centre[0] + half[0]), (centre[1] - half[1], centre[1] + half[1])


@contextlib.contextmanager
def repeatable_ids() -> Iterator[None]:
    """Bokeh names a page's document and elements with random UUIDs; these name them in order,
    so that the same points write the same bytes (a rerun, or a SLURM run beside a local one,
    is then seen to give the same page)."""
    import bokeh.embed.elements
    import bokeh.embed.util

    count = itertools.count()

    def unique_id() -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mnistflow-explorer/{next(count)}"))

    def css_safe_id() -> str:
        return f"bk-{unique_id()}"

    patched = [(bokeh.embed.util, "make_globally_unique_id", unique_id),
               (bokeh.embed.util, "make_globally_unique_css_safe_id", css_safe_id),
               (bokeh.embed.elements, "make_globally_unique_css_safe_id", css_safe_id)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patched]
    try:
        for module, name, function in patched:
            setattr(module, name, function)
        yield
    finally:
        for module, name, function in saved:
            setattr(module, name, function)


def explorer_page(points: ExplorerPoints, title: str, run: str | None = None, point_size: float = 3.0,
                  backend: str = "canvas", decimation: int = 20) -> str:
    """The page as HTML text. ``run``: the run whose mistakes are ringed. ``backend``: Bokeh's
    output_backend, canvas or webgl. ``decimation``: while a pan or zoom lasts, Bokeh draws
    every ``decimation``-th point (its own default: 10), and every point once it ends
    (bench/README.md, "Measured choices", for both)."""
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.events import DocumentReady, MouseLeave, MouseMove, RangesUpdate, Tap, ValueSubmit
    from bokeh.layouts import column, row
    from bokeh.models import (ColumnDataSource, CustomJS, Div, GroupFilter, CDSView, IndexFilter, Legend,
                              LegendItem, RadioButtonGroup, TextInput)
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    methods = points.methods()
    first = methods[0]
    columns = {"label": points.labels, "is_test": points.is_test.astype(np.int8),
               "index": points.index.astype(np.int32), "predicted": points.predicted,
               "mistake": points.mistakes.astype(np.int8),
               "confidence": points.confidence,
               "x": points.coords[first][:, 0], "y": points.coords[first][:, 1]}
    for name, values in (points.quality or {}).items():
        columns[name] = values.astype(np.int8) if values.dtype == bool else values
    for method in methods:
        columns[f"x_{method}"] = points.coords[method][:, 0]
        columns[f"y_{method}"] = points.coords[method][:, 1]
    source = ColumnDataSource(columns)
    x_range, y_range = fitted_ranges(points.coords[first], FRAME_SIZE)
    plot = figure(frame_width=FRAME_SIZE[0], frame_height=FRAME_SIZE[1], output_backend=backend,
                  x_range=x_range, y_range=y_range, tools="pan,wheel_zoom,box_zoom,reset,save",
                  active_scroll="wheel_zoom", toolbar_location="above", lod_factor=decimation)
    plot.axis.visible = False
    plot.grid.visible = False
    class_renderers, items = [], []
    colours = class_colours(len(points.classes))
    for label, name in enumerate(points.classes):
        view = CDSView(filter=GroupFilter(column_name="label", group=label))
        renderer = plot.scatter("x", "y", source=source, view=view, size=point_size,
                                color=colours[label], line_color=None)
        class_renderers.append(renderer)
        items.append(LegendItem(label=name, renderers=[renderer]))
    ring_renderers = []
    for layer, rows in points.rings.items():  # explorer.js drops a hidden class's rings
        marker, label = RINGS[layer]
        renderer = plot.scatter("x", "y", source=source, view=CDSView(filter=IndexFilter(rows.tolist())),
                                marker=marker, size=point_size + 5, fill_color=None, line_color=MISTAKE_COLOUR,
                                line_width=1.5)
        ring_renderers.append(renderer)
        if layer == "mistakes" and run is None:
            renderer.visible = False
        else:
            items.append(LegendItem(label=f"{label.format(run=run)} ({len(rows):,})", renderers=[renderer]))
    highlight_source = ColumnDataSource({"x": [], "y": [], "index": []})
    plot.scatter("x", "y", source=highlight_source, size=point_size + 16, fill_color=None, line_color=CHOSEN_COLOUR,
                 line_width=3)
    plot.add_layout(Legend(items=items, click_policy="hide", title="click to hide"), "right")

    buttons = RadioButtonGroup(labels=[METHOD_NAMES.get(m, m) for m in methods], active=0)
    every_image = np.array_equal(points.index, np.arange(len(points.index)))
    look_up = TextInput(title="Find an image by its index (Enter)", width=240,
                        placeholder=f"0 to {len(points.index) - 1}" if every_image else f"e.g. {points.index[0]}")
    status = Div(text="Point at a dot to see its image; click one to choose it.", width=860)
    explorer = "window.mnistExplorer"
    buttons.js_on_change("active", CustomJS(args={"methods": methods},
                                            code=f"{explorer}.show(methods[cb_obj.active])"))
    # on Enter, even with the same text again (the value only changes once)
    look_up.js_on_event(ValueSubmit, CustomJS(code=f"{explorer}.lookUp(cb_obj.value)"))
    plot.js_on_event(MouseMove, CustomJS(code=f"{explorer}.hover(cb_obj)"))
    plot.js_on_event(MouseLeave, CustomJS(code=f"{explorer}.hide()"))
    # a pan, zoom, reset or look-up moves the points from under the tooltip
    plot.js_on_event(RangesUpdate, CustomJS(code=f"{explorer}.hide()"))
    plot.js_on_event(Tap, CustomJS(code=f"{explorer}.tap(cb_obj)"))

    layout = column(row(buttons, look_up), plot, status)
    document = Document()
    document.add_root(layout)
    document.js_on_event(DocumentReady, CustomJS(args={
        "models": {"source": source, "plot": plot, "classRenderers": class_renderers,
                   "ringRenderers": ring_renderers, "highlightSource": highlight_source, "buttons": buttons,
                   "lookUpBox": look_up,
                   "status": status, "methods": methods, "classes": list(points.classes),
                   "legendLabels": [item.label.value for item in items],
                   "ringLabels": [item.label.value for item in items[len(points.classes):]],
                   "imageShape": list(points.images.shape[1:])}},
        code=f"{explorer}.attach(models)"))
    with repeatable_ids():
        return file_html(document, resources=INLINE, title=title, template=TEMPLATE, template_variables={
            "explorer_css": CSS, "explorer_js": resources.files(__package__).joinpath("explorer.js").read_text(),
            "pixels": compressed_images(points.images)})
