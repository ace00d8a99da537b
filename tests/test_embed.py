import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness as sk_trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from mnistflow.datasets import read_raw
from mnistflow.embed import (
    TSNE_BACKENDS,
    Embedding,
    PCAResult,
    Points,
    knn_accuracy,
    neighbours_kept,
    pca,
    quality_table,
    trustworthiness,
    tsne,
)
from mnistflow.neighbours import NeighbourGraph, annoy_neighbours, exact_neighbours, recall

SMALL = {"perplexity": 10, "early_exaggeration": 12}
BACKEND_OPTIONS = {
    "opentsne": {"early_exaggeration_iterations": 125, "iterations": 100},
    "multicore": {"early_exaggeration_iterations": 250, "iterations": 250, "learning_rate": 200},
    "sklearn": {"iterations": 250},
    "torch": {"early_exaggeration_iterations": 125, "iterations": 100},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from synthetic import write_dataset
    from mnistflow.datasets import DatasetSpec

    written = write_dataset(tmp_path_factory.mktemp("embed") / "idx", n_train=300, n_test=100)
    return read_raw(DatasetSpec.from_config("tiny", written["entry"]), tmp_path_factory.getbasetemp() / "embed0" / "idx")


@pytest.fixture(scope="module")
def projection(dataset):
    return pca(Points.from_dataset(dataset, subset=250, seed=1), components=20)


@pytest.fixture(scope="module")
def graph(projection):
    return exact_neighbours(projection.projection, 30)


def brute_force_neighbours(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pairwise distance in float64, each point's k nearest others by a full sort."""
    x = x.astype(np.float64)
    distances = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))
    np.fill_diagonal(distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)


def test_the_exact_graph_is_the_brute_force_one(projection, graph, tmp_path):
    indices, distances = brute_force_neighbours(projection.projection, 30)
    np.testing.assert_array_equal(graph.indices, indices)
    np.testing.assert_allclose(graph.distances, distances, rtol=1e-5, atol=1e-5)
    assert graph.indices.dtype == np.int64 and graph.distances.dtype == np.float32
    graph.save(tmp_path / "knn.npz")
    loaded = NeighbourGraph.load(tmp_path / "knn.npz")
    np.testing.assert_array_equal(loaded.indices, graph.indices)
    assert loaded.search == "exact" and loaded.params == graph.params
    near, _ = loaded.nearest(5)
    np.testing.assert_array_equal(near, indices[:, :5])
    with pytest.raises(ValueError, match="holds 30 neighbours a point, 31 were asked for"):
        loaded.nearest(31)


def test_a_duplicate_point_does_not_push_a_point_out_of_its_own_neighbours():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    x = np.vstack([x, x[:4]])  # points 60-63 repeat 0-3
    graph = exact_neighbours(x, 6, block=7)
    for point, twin in [(0, 60), (1, 61), (62, 2), (63, 3)]:
        assert point not in graph.indices[point] and graph.indices[point][0] == twin
        assert graph.distances[point][0] == 0
    indices, _ = brute_force_neighbours(x, 6)
    np.testing.assert_array_equal(graph.indices[4:60], indices[4:60])


def test_a_set_smaller_than_k_gets_every_other_point():
    x = np.random.default_rng(1).normal(size=(12, 3)).astype(np.float32)
    for graph in (exact_neighbours(x, 90), annoy_neighbours(x, 90, trees=5, seed=0)):
        assert graph.indices.shape == (12, 11)
        assert all(sorted(row) == [j for j in range(12) if j != i] for i, row in enumerate(graph.indices.tolist()))


def test_annoy_recalls_most_of_the_exact_neighbours(projection, graph):
    approximate = annoy_neighbours(projection.projection, 30, trees=10, seed=0)
    assert approximate.search == "annoy" and approximate.indices.shape == graph.indices.shape
    assert 0.9 < recall(approximate, graph) <= 1.0
    assert recall(graph, graph) == 1.0


def test_subset_is_seeded_and_keeps_split_and_labels(dataset):
    a = Points.from_dataset(dataset, subset=250, seed=1)
    b = Points.from_dataset(dataset, subset=250, seed=1)
    np.testing.assert_array_equal(a.index, b.index)
    assert len(a.index) == 250 and len(np.unique(a.index)) == 250
    images = np.concatenate([dataset.train_images, dataset.test_images])
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    np.testing.assert_allclose(a.pixels, images[a.index].reshape(250, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(a.labels, labels[a.index])
    np.testing.assert_array_equal(a.is_test, a.index >= 300)
    assert len(Points.from_dataset(dataset).index) == 400


def test_pca_matches_scikit_learn(dataset, projection):
    points = Points.from_dataset(dataset, subset=250, seed=1)
    reference = PCA(n_components=20, svd_solver="full").fit(points.pixels.astype(np.float64))
    # float32 covariance against a float64 SVD: agreement to float32 precision
    np.testing.assert_allclose(projection.explained_variance_ratio[:20], reference.explained_variance_ratio_, rtol=1e-4)
    expected = reference.transform(points.pixels.astype(np.float64))
    signs = np.sign((expected * projection.projection).sum(axis=0))
    np.testing.assert_allclose(projection.projection, expected * signs, atol=1e-3)
    assert projection.explained_variance_ratio.sum() == pytest.approx(1.0, rel=1e-5)
    assert projection.explained_variance_ratio.shape == (784,)


def test_pca_save_load_and_2d_embedding(projection, tmp_path):
    projection.save(tmp_path / "pca50.npz")
    back = PCAResult.load(tmp_path / "pca50.npz")
    np.testing.assert_array_equal(back.projection, projection.projection)
    embedding = back.embedding()
    assert embedding.method == "pca" and embedding.coords.shape == (250, 2)


@pytest.mark.parametrize("backend", TSNE_BACKENDS)
def test_tsne_backend_shape_finite_deterministic(projection, graph, backend, tmp_path):
    options = dict(SMALL, **BACKEND_OPTIONS[backend], seed=3)
    first = tsne(projection, backend, threads=1, graph=graph, **options)
    assert first.method == f"tsne-{backend}"
    assert first.coords.shape == (250, 2) and np.isfinite(first.coords).all()
    assert first.coords.std() > 0
    if backend != "multicore":  # MulticoreTSNE differs run to run for the same seed and init
        second = tsne(projection, backend, threads=1, graph=graph, **options)
        np.testing.assert_allclose(first.coords, second.coords)
    assert first.params["perplexity"] == 10 and first.params["seed"] == 3 and first.params["points"] == 250
    first.save(tmp_path / "e.npz")
    loaded = Embedding.load(tmp_path / "e.npz")
    assert loaded.params == first.params and loaded.seconds == pytest.approx(first.seconds)
    np.testing.assert_array_equal(loaded.index, projection.index)


def test_opentsne_takes_its_affinities_from_the_graph_it_is_given(projection, graph):
    options = dict(SMALL, **BACKEND_OPTIONS["opentsne"], seed=3)
    with pytest.raises(ValueError, match="t-SNE backend opentsne needs the neighbour graph"):
        tsne(projection, "opentsne", **options)
    # the same points with every neighbour list rotated by one point: other affinities, another map
    shifted = NeighbourGraph(np.roll(graph.indices, 1, axis=0), graph.distances, "exact", 0.0)
    first = tsne(projection, "opentsne", graph=graph, **options)
    other = tsne(projection, "opentsne", graph=shifted, **options)
    assert not np.allclose(first.coords, other.coords)
    assert first.params["neighbour_search"] == "exact" and first.seconds >= graph.seconds


def test_unknown_backend_is_rejected(projection):
    with pytest.raises(ValueError, match="unknown t-SNE backend 'bhtsne'; choose one of opentsne, multicore, sklearn, torch"):
        tsne(projection, "bhtsne", **SMALL, seed=0)


@pytest.mark.parametrize("backend", TSNE_BACKENDS)
def test_a_perplexity_too_large_for_the_points_is_refused_before_computing(projection, graph, backend, monkeypatch):
    from mnistflow import embed
    from mnistflow.errors import ConfigValueError

    monkeypatch.setitem(embed.TSNE_FUNCTIONS, backend, lambda *args, **kwargs: pytest.fail("t-SNE ran"))
    with pytest.raises(ConfigValueError) as error:  # openTSNE would run it at perplexity 82.67, saying nothing
        tsne(projection, backend, graph=graph, perplexity=83, early_exaggeration=12, seed=0)
    assert str(error.value) == ("embed.tsne.perplexity: 83 is too large for 250 points: t-SNE needs it below "
                                "(points - 1) / 3 = 83")


def test_quality_matches_direct_scikit_learn(dataset, projection):
    embedding = projection.embedding()
    train, test = ~embedding.is_test, embedding.is_test
    direct = KNeighborsClassifier(n_neighbors=10).fit(embedding.coords[train], embedding.labels[train])
    assert knn_accuracy(embedding, 10) == direct.score(embedding.coords[test], embedding.labels[test])
    pixels = Points.at(dataset, embedding.index).pixels
    chosen = np.sort(np.random.default_rng(5).choice(250, size=100, replace=False))
    assert trustworthiness(pixels, embedding, sample=100, seed=5) == pytest.approx(
        sk_trustworthiness(pixels[chosen], embedding.coords[chosen], n_neighbors=5)
    )
    table = quality_table([embedding], dataset, knn_k=10, trustworthiness_sample=100, trustworthiness_neighbors=5, seed=5)
    row = table.iloc[0]
    assert row.method == "pca" and row.points == 250
    assert row.knn_accuracy == knn_accuracy(embedding, 10)
    assert row.trustworthiness == pytest.approx(trustworthiness(pixels, embedding, 100, 5))


def test_neighbours_kept_compares_the_graph_with_the_2d_neighbours(projection, graph, dataset):
    embedding = projection.embedding()
    indices, _ = brute_force_neighbours(embedding.coords, 10)
    expected = np.mean([len(set(a) & set(b)) for a, b in zip(graph.indices[:, :10], indices)]) / 10
    assert neighbours_kept(embedding, graph, 10) == pytest.approx(expected)
    # an embedding that is the projection's first two coordinates keeps more than a shuffled one
    shuffled = Embedding("shuffled", np.random.default_rng(0).permutation(embedding.coords), embedding.labels,
                         embedding.is_test, embedding.index, 0.0)
    assert neighbours_kept(shuffled, graph, 10) < neighbours_kept(embedding, graph, 10)
    table = quality_table([embedding], dataset, 10, 100, 5, 5, graph=graph)
    assert table.neighbours_kept.iloc[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="pca: 250 points, the neighbour graph 20"):
        neighbours_kept(embedding, NeighbourGraph(graph.indices[:20], graph.distances[:20], "exact", 0.0), 10)


def test_umap_seeded_is_deterministic(projection, graph):
    from mnistflow.embed import umap

    first = umap(projection, graph, n_neighbors=10, min_dist=0.1, seed=4, threads=1)
    second = umap(projection, graph, n_neighbors=10, min_dist=0.1, seed=4, threads=1)
    assert first.method == "umap" and first.coords.shape == (250, 2) and np.isfinite(first.coords).all()
    np.testing.assert_allclose(first.coords, second.coords)
    assert first.params["n_neighbors"] == 10


def test_every_class_has_its_own_colour_the_same_in_figures_and_explorer():
    import matplotlib.pyplot as plt
    from bokeh.palettes import Category10_10, Category20_20
    from matplotlib.colors import to_rgba_array

    from mnistflow.palette import class_colours

    # ten classes (MNIST's) keep tab10 exactly, the colours every figure had
    np.testing.assert_array_equal(to_rgba_array(class_colours(10)), plt.get_cmap("tab10")(np.arange(10)))
    assert class_colours(10) == list(Category10_10) and class_colours(20) == list(Category20_20)
    assert all(len(set(class_colours(n))) == n for n in (2, 11, 26, 200))
