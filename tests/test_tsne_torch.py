"""The PyTorch t-SNE (the GPU backend), checked on the CPU against exact sums and openTSNE."""

import math

import numpy as np
import pytest
import torch

from mnistflow.embed import job_tsne_backend
from mnistflow.tsne_torch import (
    TorchTSNE,
    conditional_affinities,
    exact_neighbours,
    fft_friendly,
    grid_intervals,
    joint_affinities,
    kl_divergence,
    tsne_gradient,
)


@pytest.fixture(scope="module")
def clusters():
    """300 points in 20-D: ten Gaussian clusters, as a PCA projection of ten classes looks."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    centres = rng.normal(0, 4, size=(10, 20))
    return (centres[labels] + rng.normal(0, 1, size=(300, 20))).astype(np.float32), labels


def test_neighbours_are_the_exact_ones(clusters):
    from sklearn.neighbors import NearestNeighbors

    x, _ = clusters
    distances, indices = exact_neighbours(torch.from_numpy(x), 15, chunk=64)  # chunks that split the rows
    expected_distances, expected = NearestNeighbors(n_neighbors=16).fit(x).kneighbors(x)
    np.testing.assert_array_equal(indices.numpy(), expected[:, 1:])
    np.testing.assert_allclose(distances.numpy(), expected_distances[:, 1:] ** 2, rtol=1e-4, atol=1e-3)


def test_affinities_have_the_perplexity_and_sum_to_one_symmetrically(clusters):
    x, _ = clusters
    distances, indices = exact_neighbours(torch.from_numpy(x).double(), 30)
    conditional = conditional_affinities(distances, 10)
    entropy = -(conditional * torch.log(conditional)).sum(1)
    np.testing.assert_allclose(torch.exp(entropy).numpy(), 10, rtol=1e-6)
    edges, values = joint_affinities(conditional, indices)
    dense = torch.zeros(300, 300, dtype=torch.float64)
    dense[edges[0], edges[1]] = values
    assert values.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(dense, dense.T)
    assert (dense.diagonal() == 0).all()
    # an entry is (p(j|i) + p(i|j)) / 2n
    i, j = indices[0, 0].item(), 0
    back = (indices[i] == j).nonzero()
    expected = conditional[0, 0] + (conditional[i, back[0, 0]] if len(back) else 0)
    assert dense[j, i].item() == pytest.approx(expected.item() / 600)


def exact_gradient(y, edges, values, exaggeration):
    """openTSNE's gradient (no factor 4) by summing over every pair."""
    difference = y[:, None, :] - y[None, :, :]
    w = 1 / (1 + (difference ** 2).sum(2))
    w.fill_diagonal_(0)
    p = torch.zeros_like(w)
    p[edges[0], edges[1]] = values
    z = w.sum()
    return ((exaggeration * p * w - w * w / z)[:, :, None] * difference).sum(1), z


@pytest.mark.parametrize("scale", [3.0, 40.0])  # a box of fewer intervals than the minimum; of many
def test_the_interpolated_gradient_converges_to_the_exact_one_at_third_order(clusters, scale):
    x, _ = clusters
    distances, indices = exact_neighbours(torch.from_numpy(x).double(), 30)
    edges, values = joint_affinities(conditional_affinities(distances, 10), indices)
    y = torch.from_numpy(np.random.default_rng(1).normal(0, scale, size=(300, 2)))
    expected, z = exact_gradient(y, edges, values, 12.0)
    count = grid_intervals(y, 50)
    errors = [(torch.linalg.norm(tsne_gradient(y, edges, values, 12.0, count * m)[0] - expected)
               / torch.linalg.norm(expected)).item() for m in (1, 2)]
    # quadratic interpolation on nodes a third of an interval apart: half the width, an eighth the error
    assert errors[1] < errors[0] / 7
    # openTSNE's grid (intervals at most 1 wide) on 300 points far apart (scale 40) is the
    # scheme's worst case: isolated points feel little but their nearest neighbours
    assert errors[0] < (2e-3 if scale == 3.0 else 0.1)
    exact_kl = (values * torch.log(values * z / (1 / (1 + ((y[edges[0]] - y[edges[1]]) ** 2).sum(1))))).sum()
    assert kl_divergence(y, edges, values, count) == pytest.approx(exact_kl.item(), rel=1e-3 if scale == 3.0 else 2e-2)


def test_the_gradient_is_opentsnes_on_the_same_map_and_affinities(clusters):
    """openTSNE's own FFT gradient (its kl_divergence_fft, without the factor 4) on the same
    points and P: the same conventions, up to the two grids' interpolation error."""
    import scipy.sparse
    from openTSNE.tsne import kl_divergence_fft

    x, _ = clusters
    distances, indices = exact_neighbours(torch.from_numpy(x).double(), 30)
    edges, values = joint_affinities(conditional_affinities(distances, 10), indices)
    y = np.random.default_rng(2).normal(0, 5, size=(300, 2))
    p = scipy.sparse.csr_matrix((values.numpy(), (edges[0].numpy(), edges[1].numpy())), shape=(300, 300))
    fft = {"n_interpolation_points": 3, "min_num_intervals": 50, "ints_in_interval": 1}
    kl, expected = kl_divergence_fft(np.ascontiguousarray(y), p, dof=1, fft_params=fft, should_eval_error=True)
    mine = torch.from_numpy(y)
    gradient, width = tsne_gradient(mine, edges, values, 1.0, grid_intervals(mine, 50))
    assert np.linalg.norm(gradient.numpy() - expected) / np.linalg.norm(expected) < 1e-2
    assert kl_divergence(mine, edges, values, grid_intervals(mine, 50)) == pytest.approx(kl, rel=1e-3)
    assert width.item() <= 1


def test_it_matches_opentsne_on_the_same_points(clusters):
    import openTSNE

    from mnistflow.embed import Embedding, knn_accuracy

    x, labels = clusters
    coords, details = TorchTSNE(perplexity=10, early_exaggeration_iterations=125, iterations=250).fit(x, seed=0)
    reference = openTSNE.TSNE(perplexity=10, early_exaggeration_iter=125, n_iter=250, neighbors="exact",
                              random_state=0, n_jobs=1).fit(x)
    assert details["kl_divergence"] == pytest.approx(reference.kl_divergence, rel=0.05)
    is_test = np.arange(300) % 5 == 0
    for embedded in (coords, np.asarray(reference)):
        assert knn_accuracy(Embedding("t", embedded, labels, is_test, np.arange(300), 0.0)) == 1.0
    assert details["device"] == "cpu" and details["neighbours"] == 30
    assert np.abs(coords.mean(0)).max() < 1e-3 * np.abs(coords).max()  # re-centred, as openTSNE does


def test_the_same_seed_gives_the_same_map_on_a_cpu(clusters):
    x, _ = clusters
    tsne = TorchTSNE(perplexity=10, early_exaggeration_iterations=20, iterations=20)
    np.testing.assert_array_equal(tsne.fit(x, seed=4)[0], tsne.fit(x, seed=4)[0])


def test_too_few_points_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="t-SNE needs at least 2 points, got 1"):
        TorchTSNE().fit(np.zeros((1, 5), dtype=np.float32))


def test_fft_sizes_have_only_small_prime_factors():
    assert [fft_friendly(n) for n in (50, 97, 121, 150, 251)] == [50, 100, 125, 150, 256]


def test_auto_is_picked_by_the_job_torch_with_a_gpu_and_opentsne_without():
    assert job_tsne_backend("auto", has_gpu=True) == "torch"
    assert job_tsne_backend("auto", has_gpu=False) == "opentsne"
    assert job_tsne_backend("multicore", has_gpu=True) == "multicore"
    assert job_tsne_backend("auto") == ("torch" if torch.cuda.is_available() else "opentsne")


def test_the_grid_keeps_intervals_at_most_one_wide_while_the_map_grows(clusters):
    x, _ = clusters
    assert grid_intervals(torch.tensor([[0.0, 0.0], [123.4, 5.0]]), 50) == 125
    assert grid_intervals(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), 50) == 50
    # the map grows from 1e-4 to tens of units; the grid's size is read once in 10 iterations
    coords, details = TorchTSNE(perplexity=10, early_exaggeration_iterations=60, iterations=100).fit(x, seed=1)
    assert np.ptp(coords) > 20 and 0 < details["widest_interval"] <= 1
