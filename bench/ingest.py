"""Reading a folder of the user's own images: Fashion-MNIST's 70,000 images written out as PNGs in
class folders (train/ and test/), then read back by the folder source as the dataset job does
(decode, convert, digest, checks) and digested as the DAG does; writes
bench/results/ingest-<dataset>.json.

    .venv/bin/python bench/ingest.py [--dataset fashion_mnist] [--repeats 3]

Needs results/<dataset>/data/dataset.npz (snakemake results/fashion_mnist/data/dataset.npz).
The target: the whole read in at most 30 s on the 2-core machine. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from bench_common import machine  # noqa: E402
from mnistflow.datasets import load_dataset  # noqa: E402
from mnistflow.config import validate_config  # noqa: E402
from mnistflow.ingest import read_custom, source_digest  # noqa: E402

TARGET_SECONDS = 30.0


def write_pngs(dataset, root: Path) -> None:
    """Image i of a split as <root>/<split>/<label>/<i>.png (the class folders named by label)."""
    from PIL import Image

    for split in ("train", "test"):
        images, labels = dataset.split(split)
        for label in np.unique(labels):
            (root / split / str(label)).mkdir(parents=True)
        for i, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image).save(root / split / str(label) / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dataset = load_dataset(ROOT / "results" / args.dataset / "data" / "dataset.npz")
    with tempfile.TemporaryDirectory(prefix="mnistflow-ingest-") as scratch:
        root = Path(scratch) / "images"
        started = time.perf_counter()
        write_pngs(dataset, root)
        written = time.perf_counter() - started
        # the entry a user writes, filled with the schema's defaults
        config = {"datasets": ["images"], "custom_datasets": {"images": {"source": "folder", "path": str(root)}}}
        entry = validate_config(config, ROOT / "workflow/schemas/config.schema.yaml")["custom_datasets"]["images"]
        read, digest = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            ingested = read_custom(args.dataset, entry, log=lambda line: None)
            read.append(time.perf_counter() - started)
            started = time.perf_counter()
            digested = source_digest(entry)
            digest.append(time.perf_counter() - started)
        png_bytes = sum(p.stat().st_size for p in root.rglob("*.png"))
    # each image back in the place its file name gives it: exactly the IDX files' arrays?
    same = True
    for split in ("train", "test"):
        order = np.argsort([int(Path(name).stem) for name in ingested.files[split]])
        images, labels = ingested.dataset.split(split)
        same &= np.array_equal(images[order], dataset.split(split)[0])
        same &= np.array_equal(labels[order], dataset.split(split)[1])
    result = {
        "dataset": args.dataset, **machine(),
        "images": len(dataset.train_labels) + len(dataset.test_labels), "png_bytes": png_bytes,
        "write_seconds": round(written, 2),
        "read_seconds": [round(s, 2) for s in read], "read_seconds_median": round(statistics.median(read), 2),
        "dag_digest_seconds": [round(s, 2) for s in digest],
        "dag_digest_seconds_median": round(statistics.median(digest), 2),
        "digest_matches_the_job": digested == ingested.content_digest,
        "same_images_as_the_idx_files": bool(same),
        "target_seconds": TARGET_SECONDS,
        "target_met": statistics.median(read) <= TARGET_SECONDS,
    }
    out = ROOT / "bench" / "results" / f"ingest-{args.dataset}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
