"""Two-dimensional embeddings of every image (train and test together) and their quality.

Each method returns an ``Embedding``: the 2-D coordinates, the points' labels and split, the
parameters used and the wall time, saved as one npz per method.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import atomic
from .datasets import Dataset
from .errors import ConfigValueError
from .neighbours import tsne_neighbours
from .registry import AUTO_TSNE, GRAPH_BACKENDS, TSNE_BACKENDS

if TYPE_CHECKING:
    import pandas as pd

    from .neighbours import NeighbourGraph

# what ``auto`` runs where its job sees a GPU, and where it does not
AUTO_TSNE_CHOICES = {True: "torch", False: "opentsne"}
AUTO_TSNE_BACKENDS = tuple(sorted(set(AUTO_TSNE_CHOICES.values())))  # those auto may pick


def job_tsne_backend(asked: str, has_gpu: bool | None = None) -> str:
    """The backend a t-SNE job runs: the one asked, or for ``auto`` torch where this process sees a
    GPU (``has_gpu``: None asks torch), else openTSNE."""
    if asked != AUTO_TSNE:
        return asked
    if has_gpu is None:
        try:
            import torch
        except ImportError:  # the embedding jobs' conda env has no torch, so no GPU to use
            has_gpu = False
        else:
            has_gpu = torch.cuda.is_available()
    return AUTO_TSNE_CHOICES[has_gpu]


@dataclass(frozen=True)
class Points:
    """The images to embed, flattened to [0, 1] floats, with labels and where they came from."""

    pixels: np.ndarray  # (n, h*w) float32
    labels: np.ndarray  # (n,) int64
    is_test: np.ndarray  # (n,) bool
    index: np.ndarray  # (n,) position in train followed by test

    @classmethod
    def from_dataset(cls, dataset: Dataset, subset: int | None = None, seed: int = 0) -> "Points":
        """Every train and test image, or ``subset`` of them drawn at random with ``seed``."""
        n = len(dataset.train_images) + len(dataset.test_images)
        index = np.arange(n)
        if subset is not None and subset < n:
            index = np.sort(np.random.default_rng(seed).choice(n, size=subset, replace=False))
        return cls.at(dataset, index)

    @classmethod
    def at(cls, dataset: Dataset, index: np.ndarray) -> "Points":
        """The images at ``index`` in train followed by test."""
        images = np.concatenate([dataset.train_images, dataset.test_images])
        labels = np.concatenate([dataset.train_labels, dataset.test_labels])
        pixels = images[index].reshape(len(index), -1).astype(np.float32) / 255.0
        return cls(pixels, labels[index], index >= len(dataset.train_images), np.asarray(index))


@dataclass(frozen=True)
class Embedding:
    method: str
    coords: np.ndarray  # (n, 2) float
    labels: np.ndarray
    is_test: np.ndarray
    index: np.ndarray
    seconds: float
    params: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        atomic.save_npz(
            path,
            method=np.array(self.method),
            coords=self.coords,
            labels=self.labels,
            is_test=self.is_test,
            index=self.index,
            seconds=np.array(self.seconds),
            params=np.array(json.dumps(self.params, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "Embedding":
        with atomic.load_npz(path) as npz:
            return cls(
                method=str(npz["method"]),
                coords=npz["coords"],
                labels=npz["labels"],
                is_test=npz["is_test"],
                index=npz["index"],
                seconds=float(npz["seconds"]),
                params=json.loads(str(npz["params"])),
            )


@dataclass(frozen=True)
class PCAResult:
    """PCA of the pixels: the first components, the whole explained-variance spectrum, and the
    projection of every point onto the first components (the input of t-SNE and UMAP)."""

    components: np.ndarray  # (k, h*w)
    mean: np.ndarray  # (h*w,)
    explained_variance_ratio: np.ndarray  # (h*w,) every component, not only the first k
    projection: np.ndarray  # (n, k) float32
    labels: np.ndarray
    is_test: np.ndarray
    index: np.ndarray
    seconds: float

    def save(self, path: str | Path) -> None:
        atomic.save_npz(path, **{k: np.asarray(v) for k, v in vars(self).items()})

    @classmethod
    def load(cls, path: str | Path) -> "PCAResult":
        values = atomic.load_arrays(path)
        values["seconds"] = float(values["seconds"])
        return cls(**values)

    def embedding(self) -> Embedding:
        return Embedding(
            "pca",
            self.projection[:, :2].astype(np.float64),
            self.labels,
            self.is_test,
            self.index,
            self.seconds,
            {"components": 2, "points": len(self.labels)},
        )


def pca(points: Points, components: int = 50) -> PCAResult:
    """PCA by scikit-learn's ``covariance_eigh`` solver: one eigendecomposition of the 784 x 784
    covariance matrix, in float32, several times faster than the ``full`` SVD on 70,000 images
    (bench/README.md, "Measured choices"). Every eigenvalue is kept for the spectrum."""
    from sklearn.decomposition import PCA

    started = time.perf_counter()
    n_features = points.pixels.shape[1]
    model = PCA(n_components=min(n_features, len(points.pixels)), svd_solver="covariance_eigh")
    model.fit(points.pixels)
    top = model.components_[:components]
    projection = ((points.pixels - model.mean_) @ top.T).astype(np.float32)
    ratio = np.zeros(n_features)
    ratio[: len(model.explained_variance_ratio_)] = model.explained_variance_ratio_
    return PCAResult(
        components=top,
        mean=model.mean_,
        explained_variance_ratio=ratio,
        projection=projection,
        labels=points.labels,
        is_test=points.is_test,
        index=points.index,
        seconds=time.perf_counter() - started,
    )


def knn_accuracy(embedding: Embedding, k: int = 10) -> float:
    """Accuracy of a k-nearest-neighbour vote in the 2-D embedding: test points classified from
    train points."""
    from sklearn.neighbors import KNeighborsClassifier

    train, test = ~embedding.is_test, embedding.is_test
    if not train.any() or not test.any():
        raise ValueError(f"{embedding.method}: need both train and test points for kNN accuracy")
    classifier = KNeighborsClassifier(n_neighbors=min(k, int(train.sum())))
    classifier.fit(embedding.coords[train], embedding.labels[train])
    return float(classifier.score(embedding.coords[test], embedding.labels[test]))


def trustworthiness(pixels: np.ndarray, embedding: Embedding, sample: int = 5000, seed: int = 0,
                    n_neighbors: int = 5) -> float:
    """scikit-learn's trustworthiness between pixel space and the embedding, on a fixed random
    sample of points (the same sample for every method with the same points and seed)."""
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    n = len(embedding.coords)
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
    return float(sk_trustworthiness(pixels[chosen], embedding.coords[chosen], n_neighbors=n_neighbors))


def tsne_opentsne(x: np.ndarray, perplexity: float, early_exaggeration: float,
                  early_exaggeration_iterations: int, iterations: int, graph: NeighbourGraph,
                  seed: int, threads: int, intervals: int = 50) -> tuple[np.ndarray, dict]:
    """openTSNE with FFT-accelerated gradients, its affinities from the shared neighbour graph
    (``neighbours.tsne_neighbours``). ``intervals``: openTSNE's
    ``min_num_intervals`` of its interpolation grid. The settings in config.yaml and what they
    cost in quality are measured by bench/embed.py (bench/README.md, "Measured choices")."""
    import openTSNE
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    started = time.perf_counter()
    check_rows("tsne-opentsne", len(x), graph)
    k = tsne_neighbours(perplexity, len(x))
    affinities = openTSNE.affinity.PerplexityBasedNN(
        perplexity=perplexity, n_jobs=threads, knn_index=PrecomputedNeighbors(*graph.nearest(k)))
    affinities_done = time.perf_counter()
    init = openTSNE.initialization.pca(x, random_state=seed)
    embedding = openTSNE.TSNEEmbedding(init, affinities, n_jobs=threads, random_state=seed,
                                       min_num_intervals=intervals)
    embedding = embedding.optimize(early_exaggeration_iterations, exaggeration=early_exaggeration)
    exaggeration_done = time.perf_counter()
    embedding = embedding.optimize(iterations)
    finished = time.perf_counter()
    return np.asarray(embedding, dtype=np.float64), {
        "neighbour_search": graph.search,
        "seconds_neighbour_graph": graph.seconds,
        "seconds_affinities": affinities_done - started,
        "seconds_early_exaggeration": exaggeration_done - affinities_done,
        "seconds_optimisation": finished - exaggeration_done,
        "kl_divergence": float(embedding.kl_divergence),
    }


def tsne_multicore(x: np.ndarray, perplexity: float, early_exaggeration: float,
                   early_exaggeration_iterations: int, iterations: int, learning_rate: float,
                   seed: int, threads: int) -> tuple[np.ndarray, dict]:
    """MulticoreTSNE (Barnes-Hut), the article's tool. ``iterations`` counts after early
    exaggeration, as for the other backends; MulticoreTSNE's own ``n_iter`` is the total.

    It starts, like openTSNE and scikit-learn, from the first two PCA coordinates scaled to
    standard deviation 1e-4 (``x`` is already a PCA projection, so those are its first two
    columns). Even so its results differ from run to run for the same ``random_state``."""
    from MulticoreTSNE import MulticoreTSNE

    x = np.ascontiguousarray(x, dtype=np.float64)
    init = x[:, :2] / max(float(x[:, 0].std()), 1e-12) * 1e-4
    model = MulticoreTSNE(
        n_components=2, perplexity=perplexity, early_exaggeration=early_exaggeration,
        learning_rate=learning_rate, n_iter=early_exaggeration_iterations + iterations,
        n_iter_early_exag=early_exaggeration_iterations, random_state=seed, n_jobs=threads,
        init=np.ascontiguousarray(init),
    )
    coords = model.fit_transform(x)
    return np.asarray(coords, dtype=np.float64), {"kl_divergence": float(model.kl_divergence_)}


def tsne_sklearn(x: np.ndarray, perplexity: float, early_exaggeration: float, iterations: int, seed: int,
                 threads: int) -> tuple[np.ndarray, dict]:
    """scikit-learn's Barnes-Hut t-SNE (PCA initialisation, learning rate "auto"; its early
    exaggeration is 250 iterations, fixed)."""
    from sklearn.manifold import TSNE

    model = TSNE(
        n_components=2, perplexity=perplexity, early_exaggeration=early_exaggeration,
        max_iter=250 + iterations, init="pca", learning_rate="auto",
        random_state=seed, n_jobs=threads,
    )
    coords = model.fit_transform(x)
    return np.asarray(coords, dtype=np.float64), {"kl_divergence": float(model.kl_divergence_)}


def tsne_torch(x: np.ndarray, perplexity: float, early_exaggeration: float, early_exaggeration_iterations: int,
               iterations: int, seed: int, threads: int, intervals: int = 50) -> tuple[np.ndarray, dict]:
    """openTSNE's algorithm in PyTorch (``tsne_torch.TorchTSNE``), on the GPU where CUDA is, with
    its own exact neighbour search there; on a CPU it runs, but slower than openTSNE."""
    import torch

    from .tsne_torch import TorchTSNE

    torch.set_num_threads(threads)
    return TorchTSNE(perplexity=perplexity, early_exaggeration=early_exaggeration,
                     early_exaggeration_iterations=early_exaggeration_iterations, iterations=iterations,
                     intervals=intervals).fit(x, seed)


TSNE_FUNCTIONS = {"opentsne": tsne_opentsne, "multicore": tsne_multicore, "sklearn": tsne_sklearn,
                  "torch": tsne_torch}


def check_perplexity(perplexity: float, points: int, error: type[Exception] = ConfigValueError,
                     counted_by: str = "") -> None:
    """openTSNE's rule, for every backend: a perplexity of (points - 1) / 3 or more wants more
    neighbours than a point has. openTSNE would lower it silently (the npz recording the value
    asked), MulticoreTSNE fail, scikit-learn and the torch backend go on with fewer neighbours."""
    limit = (points - 1) / 3
    if perplexity >= limit:
        raise error(f"embed.tsne.perplexity: {perplexity} is too large for {points} points{counted_by}: t-SNE needs "
                    f"it below (points - 1) / 3 = {limit:g}")


def tsne(pca_result: PCAResult, backend: str, threads: int = 1, graph: NeighbourGraph | None = None,
         **params) -> Embedding:
    """t-SNE of the PCA projection with one of ``TSNE_BACKENDS``; ``params`` are that backend's.
    A backend of ``GRAPH_BACKENDS`` needs the neighbour ``graph``; its seconds count the graph's.
    ``auto``: the backend ``job_tsne_backend`` picks here, ``params`` holding each choice's by
    name; the embedding is named ``tsne-auto`` and its params say which backend built it."""
    asked = backend
    if backend == AUTO_TSNE:
        backend = job_tsne_backend(AUTO_TSNE)
        params = params[backend]
    if backend not in TSNE_FUNCTIONS:
        raise ValueError(f"unknown t-SNE backend {backend!r}; choose one of {', '.join(TSNE_BACKENDS)}")
    check_perplexity(params["perplexity"], len(pca_result.projection))
    if backend in GRAPH_BACKENDS:
        if graph is None:
            raise ValueError(f"t-SNE backend {backend} needs the neighbour graph")
        params = dict(params, graph=graph)
    started = time.perf_counter()
    coords, details = TSNE_FUNCTIONS[backend](pca_result.projection, threads=threads, **params)
    params.pop("graph", None)
    seconds = time.perf_counter() - started + (graph.seconds if backend in GRAPH_BACKENDS else 0.0)
    recorded = dict(params, backend=backend, threads=threads, points=len(coords),
                    input_dimensions=int(pca_result.projection.shape[1]), **details)
    return Embedding(f"tsne-{asked}", coords, pca_result.labels, pca_result.is_test,
                     pca_result.index, seconds, recorded)


def umap(pca_result: PCAResult, graph: NeighbourGraph, n_neighbors: int, min_dist: float,
         seed: int | None, threads: int = 1, epochs: int | None = None) -> Embedding:
    """UMAP (umap-learn) of the PCA projection, with its neighbours from the shared graph:
    umap-learn's own search (pynndescent) spends far longer compiling and searching on 2 cores
    (bench/README.md, "Measured choices"). A seed makes UMAP deterministic but single-threaded
    (umap-learn's rule); ``seed: null`` uses every thread. ``epochs``: umap-learn's ``n_epochs``
    (None: its own choice, 200 for large sets). Its seconds count the graph's."""
    import umap as umap_learn

    x = pca_result.projection
    started = time.perf_counter()
    check_rows("umap", len(x), graph)
    indices, distances = graph.nearest(n_neighbors - 1)
    # umap-learn counts each point as its own first neighbour
    indices = np.hstack([np.arange(len(x))[:, None], indices])
    distances = np.hstack([np.zeros((len(x), 1)), distances]).astype(np.float32)
    model = umap_learn.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist,
                            random_state=seed, n_jobs=threads if seed is None else 1, n_epochs=epochs,
                            precomputed_knn=(indices, distances, None))
    coords = model.fit_transform(x)
    seconds = time.perf_counter() - started + graph.seconds
    params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "epochs": epochs, "seed": seed,
              "threads": threads, "points": len(coords), "input_dimensions": int(x.shape[1]),
              "neighbour_search": graph.search, "seconds_neighbour_graph": graph.seconds}
    return Embedding("umap", np.asarray(coords, dtype=np.float64), pca_result.labels,
                     pca_result.is_test, pca_result.index, seconds, params)


def check_rows(method: str, points: int, graph: "NeighbourGraph") -> None:
    """The graph's rows must be the points (it was built from the same PCA projection)."""
    if len(graph.indices) != points:
        raise ValueError(f"{method}: {points} points, the neighbour graph {len(graph.indices)}: they were "
                         "not made from the same projection; rebuild the graph (rule knn)")


def neighbours_kept(embedding: Embedding, graph: NeighbourGraph, k: int = 10) -> float:
    """The share of each point's ``k`` nearest neighbours in the PCA projection (the shared
    graph, whose rows are the embedding's points) that are among its ``k`` nearest in 2-D."""
    from sklearn.neighbors import NearestNeighbors

    from .neighbours import shared_fraction, without_self

    check_rows(embedding.method, len(embedding.coords), graph)
    high, _ = graph.nearest(k)
    _, low = NearestNeighbors(n_neighbors=k + 1).fit(embedding.coords).kneighbors(embedding.coords)
    low, _ = without_self(low, np.zeros(low.shape, dtype=np.float32))
    return shared_fraction(low, high)


def quality_table(embeddings: list[Embedding], dataset: Dataset, knn_k: int = 10,
                  trustworthiness_sample: int = 5000, trustworthiness_neighbors: int = 5,
                  seed: int = 0, graph: NeighbourGraph | None = None) -> "pd.DataFrame":
    """One row per embedding: points, wall time, kNN accuracy, trustworthiness, t-SNE's final
    KL divergence and, given the shared neighbour ``graph``, the neighbours kept."""
    import pandas as pd

    rows = []
    for embedding in embeddings:
        pixels = Points.at(dataset, embedding.index).pixels
        rows.append({
            "method": embedding.method,
            "points": len(embedding.coords),
            "seconds": round(embedding.seconds, 3),
            "knn_accuracy": knn_accuracy(embedding, knn_k),
            "trustworthiness": trustworthiness(pixels, embedding, trustworthiness_sample, seed,
                                               trustworthiness_neighbors),
            # t-SNE's objective at the end: a shorter schedule shows here as a higher value
            "kl_divergence": embedding.params.get("kl_divergence", float("nan")),
            "neighbours_kept": float("nan") if graph is None else neighbours_kept(embedding, graph, knn_k),
            "params": json.dumps(embedding.params, sort_keys=True),
        })
    return pd.DataFrame(rows)
