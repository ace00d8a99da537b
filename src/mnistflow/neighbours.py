"""The k nearest neighbours of every point of the PCA projection, found once and shared by every
embedding that needs them (t-SNE's affinities, UMAP's fuzzy graph).

The default search is exact: faiss's flat index compares every point with every other (one
matrix product per block of queries). Annoy (approximate, a forest of random-projection trees)
stays available for sets too large for an exact search.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic

SEARCHES = ("exact", "annoy")


def tsne_neighbours(perplexity: float, points: int | None = None) -> int:
    """Neighbours a point in t-SNE's affinities: 3 x perplexity, as openTSNE takes (beyond them a
    point's Gaussian weight is negligible), and never more than the ``points - 1`` others."""
    k = int(3 * perplexity)
    return k if points is None else min(points - 1, k)


@dataclass(frozen=True)
class NeighbourGraph:
    """Each point's ``k`` nearest other points, nearest first: their indices and Euclidean
    distances, as the search that found them returned them."""

    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float32
    search: str  # one of SEARCHES
    seconds: float
    params: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def nearest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest neighbours of every point: (indices, distances), C-contiguous."""
        if k > self.k:
            raise ValueError(f"the neighbour graph holds {self.k} neighbours a point, {k} were asked for: "
                             "it was built for other settings (its k is the largest of 3 x embed.tsne.perplexity, "
                             "embed.umap.n_neighbors - 1 and embed.quality.knn_k); rebuild it")
        return np.ascontiguousarray(self.indices[:, :k]), np.ascontiguousarray(self.distances[:, :k])

    def save(self, path: str | Path) -> None:
        atomic.save_npz(path, indices=self.indices, distances=self.distances, search=np.array(self.search),
                        seconds=np.array(self.seconds), params=np.array(json.dumps(self.params, sort_keys=True)))

    @classmethod
    def load(cls, path: str | Path) -> "NeighbourGraph":
        with atomic.load_npz(path) as npz:
            return cls(indices=npz["indices"], distances=npz["distances"], search=str(npz["search"]),
                       seconds=float(npz["seconds"]), params=json.loads(str(npz["params"])))


def without_self(indices: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop each point from its own list of k + 1 neighbours (where a duplicate of the point
    came first, the point may sit anywhere at distance 0, or be missing: then the farthest goes)."""
    n = len(indices)
    is_self = indices == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    k = indices.shape[1] - 1
    return indices[keep].reshape(n, k), distances[keep].reshape(n, k)


def exact_neighbours(x: np.ndarray, k: int, threads: int = 1, block: int = 131072) -> NeighbourGraph:
    """The exact ``k`` nearest neighbours of every row of ``x`` (self excluded; at most all the
    other points), by faiss's flat L2 index, searched in blocks of ``block`` queries (faiss blocks
    them again inside, and one call for all points was the fastest). Exact to float32 rounding:
    faiss computes squared distances as |x|^2 + |y|^2 - 2 x.y, so near-ties may be ordered
    differently from a float64 computation."""
    import faiss

    started = time.perf_counter()
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = min(k, len(x) - 1)  # a small set has fewer other points
    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    indices = np.empty((len(x), k + 1), dtype=np.int64)
    squared = np.empty((len(x), k + 1), dtype=np.float32)
    for start in range(0, len(x), block):
        squared[start:start + block], indices[start:start + block] = index.search(x[start:start + block], k + 1)
    indices, squared = without_self(indices, squared)
    distances = np.sqrt(np.maximum(squared, 0))  # faiss returns squared distances, rounding can dip below 0
    return NeighbourGraph(indices, distances, "exact", time.perf_counter() - started,
                          {"k": k, "threads": threads, "points": len(x), "dimensions": int(x.shape[1]),
                           "library": f"faiss {faiss.__version__}"})


def annoy_neighbours(x: np.ndarray, k: int, trees: int, seed: int | None, threads: int = 1) -> NeighbourGraph:
    """Approximate ``k`` nearest neighbours (self excluded) from openTSNE's Annoy index."""
    from openTSNE.nearest_neighbors import Annoy

    started = time.perf_counter()
    k = min(k, len(x) - 1)
    indices, distances = Annoy(x, k=k, metric="euclidean", n_jobs=threads, random_state=seed,
                               knn_kwargs={"n_trees": trees}).build()
    return NeighbourGraph(indices.astype(np.int64), distances.astype(np.float32), "annoy",
                          time.perf_counter() - started,
                          {"k": k, "threads": threads, "points": len(x), "dimensions": int(x.shape[1]),
                           "trees": trees, "seed": seed})


def neighbour_graph(x: np.ndarray, k: int, search: str = "exact", threads: int = 1, annoy_trees: int = 25,
                    seed: int | None = 0) -> NeighbourGraph:
    if search == "exact":
        return exact_neighbours(x, k, threads)
    if search == "annoy":
        return annoy_neighbours(x, k, annoy_trees, seed, threads)
    raise ValueError(f"unknown neighbour search {search!r}; choose one of {', '.join(SEARCHES)}")


def shared_fraction(found: np.ndarray, expected: np.ndarray) -> float:
    """Row by row, the share of ``expected``'s indices that ``found`` holds too, averaged over
    the rows (two (n, k) index arrays, no repeats within a row)."""
    shared = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(found, expected)]
    return float(np.sum(shared) / expected.size)


def recall(graph: NeighbourGraph, exact: NeighbourGraph) -> float:
    """The fraction of the exact neighbours ``graph`` found (the same k)."""
    k = min(graph.k, exact.k)
    return shared_fraction(graph.indices[:, :k], exact.indices[:, :k])
