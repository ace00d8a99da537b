"""The embedding explorer in headless Chromium, on real MNIST and on 70,000 synthetic points:

- the file's size;
- ready: from navigation start to the first paint after the page is usable (every point drawn,
  the images inflated), with the page's own marks on the way; each page opened ``--opens`` times,
  each time in a new browser;
- hover: from the pointermove to the frame after the tooltip (image and labels) is painted, on
  ``--hovers`` points drawn at random;
- pan and zoom: milliseconds between animation frames (requestAnimationFrame) during a scripted
  drag and a scripted mouse-wheel zoom over the map's centre.

Variants are compared side by side on the same points (``VARIANTS``): Bokeh's canvas renderer (the
workflow's choice) against its WebGL one, which this machine's Chromium, without a GPU, runs on
SwiftShader; and how many points Bokeh skips while a pan or zoom lasts. The pages are built here
from the run's artefacts as rule explorer builds them (the size of the run's own explorer.html is
recorded beside). The screenshot of the real page as the workflow builds it, hovering the most
confidently misclassified test image (looked up, so centred and ringed), goes to
bench/results/explorer-<dataset>.png; the numbers to bench/results/explorer-<dataset>.json.

    .venv/bin/python bench/explorer.py [--results results] [--dataset mnist]

Needs the default run's outputs (make run). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import Explorer, chromium_page, percentiles  # noqa: E402
from synthetic import explorer_set  # noqa: E402

from mnistflow.datasets import load_dataset  # noqa: E402
from mnistflow.embed import Embedding  # noqa: E402
from mnistflow.explorer import ExplorerPoints, explorer_page  # noqa: E402
from mnistflow.predictions import Predictions  # noqa: E402

# The workflow's choice first, then what it was chosen against: Bokeh's WebGL renderer (which this
# machine's Chromium, without a GPU, runs on SwiftShader) and other decimations while moving.
VARIANTS = ({"backend": "canvas", "decimation": 20}, {"backend": "webgl", "decimation": 20},
            {"backend": "canvas", "decimation": 10}, {"backend": "canvas", "decimation": 50})
GESTURES = ("drag", "zoom")
GESTURE_STEPS = 120
WEBGL_STEPS = 20  # on SwiftShader a frame takes seconds: fewer steps keep the run within minutes


def measure(path: Path, points: ExplorerPoints, opens: int, hovers: int, seed: int = 0,
            screenshot: Path | None = None, steps: int = GESTURE_STEPS) -> dict:
    result = {"gesture_steps": steps, "megabytes": round(path.stat().st_size / 1e6, 2), "ready_ms": [], "marks": []}
    for attempt in range(opens):
        with chromium_page() as (page, log):
            explorer = Explorer.open(page, path)
            result["ready_ms"].append(round(explorer.ready_ms, 1))
            result["marks"].append(explorer.marks())
            if attempt < opens - 1:
                continue
            if screenshot is not None and points.mistakes.any():
                # the most confidently misclassified test image, looked up (so centred and ringed)
                # and hovered
                worst = int(np.flatnonzero(points.mistakes)[np.nanargmax(points.confidence[points.mistakes])])
                explorer.look_up(str(points.index[worst]))
                tooltip = explorer.hover(int(points.index[worst]))
                page.screenshot(path=screenshot)
                result["screenshot"] = {"path": str(screenshot.relative_to(ROOT)), "index": int(points.index[worst]),
                                        "tooltip": tooltip.rows if tooltip else None}
                explorer.fit()
            rng = np.random.default_rng(seed)
            latencies = []
            for row in rng.choice(len(points.index), size=hovers, replace=False):
                tooltip = explorer.hover(int(points.index[row]))
                if tooltip is not None:
                    latencies.append(tooltip.latency_ms)
            result["hover_ms"] = percentiles(latencies)
            for gesture in GESTURES:
                result[f"{gesture}_frame_ms"] = explorer.frame_times(gesture, steps=steps)
            result["requests"] = [url for url in log.requests if url != path.resolve().as_uri()]
            result["console_errors"] = log.errors
    result["ready_ms_median"] = float(np.median(result["ready_ms"]))
    print(json.dumps({k: v for k, v in result.items() if k != "marks"}), flush=True)
    return result


def built(points: ExplorerPoints, folder: Path, name: str, run: str | None, **options) -> tuple[Path, float]:
    started = time.perf_counter()
    page = explorer_page(points, f"{name} explorer", run=run, **options)
    seconds = time.perf_counter() - started
    path = folder / f"{name}-{'-'.join(f'{k}{v}' for k, v in options.items())}.html"
    path.write_text(page)
    return path, round(seconds, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--best-run", default="best")
    parser.add_argument("--methods", nargs="+", default=["tsne-opentsne", "umap", "pca"])
    parser.add_argument("--opens", type=int, default=3)
    parser.add_argument("--hovers", type=int, default=30)
    args = parser.parse_args()

    folder = args.results / args.dataset
    dataset = load_dataset(folder / "data/dataset.npz")
    predictions = Predictions.load(folder / f"train/{args.best_run}/test_predictions.npz")
    real = ExplorerPoints.gather([Embedding.load(folder / f"embed/{m}.npz") for m in args.methods], dataset,
                                 predictions)
    synthetic_dataset, synthetic_embeddings, synthetic_predictions = explorer_set(60_000, 10_000)
    synthetic = ExplorerPoints.gather(synthetic_embeddings, synthetic_dataset, synthetic_predictions)
    result = {"date": datetime.date.today().isoformat(), "machine": platform.node(),
              "cpus": len(os.sched_getaffinity(0)), "dataset": args.dataset,
              "points": len(real.index), "embeddings": len(real.coords),
              "misclassified": int(real.mistakes.sum()), "pages": {}}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        rule_page = folder / "embed/explorer.html"
        result["rule_page_megabytes"] = round(rule_page.stat().st_size / 1e6, 2) if rule_page.exists() else None
        for name, points, run in ((args.dataset, real, predictions.run), ("synthetic", synthetic, "best")):
            for options in VARIANTS:
                path, seconds = built(points, scratch, name, run, **options)
                key = f"{name} " + ", ".join(f"{k} {v}" for k, v in options.items())
                print(f"{key}: built in {seconds} s", flush=True)
                as_built = name == args.dataset and options == VARIANTS[0]  # the workflow's page: the screenshot
                result["pages"][key] = {"options": options, "build_seconds": seconds, **measure(
                    path, points, args.opens, args.hovers,
                    screenshot=ROOT / f"bench/results/explorer-{name}.png" if as_built else None,
                    steps=WEBGL_STEPS if options["backend"] == "webgl" else GESTURE_STEPS)}
    out = ROOT / f"bench/results/explorer-{args.dataset}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
