import numpy as np
import pytest

from mnistflow.datasets import read_raw
from mnistflow.stats import Summary, rebin


@pytest.fixture
def data(tiny):
    return read_raw(tiny["spec"], tiny["dir"])


def test_summary_matches_direct_numpy(data):
    summary = Summary.compute(data)
    table = summary.table()
    for split in ("train", "test"):
        images, labels = data.split(split)
        x = images.astype(np.float64) / 255.0
        s = summary.splits[split]
        for c in range(10):
            members = x[labels == c]
            row = table[(table.split == split) & (table.label == str(c))].iloc[0]
            assert row.images == len(members) == s.counts[c]
            assert row.mean_intensity == pytest.approx(members.mean(), rel=1e-12)
            assert row.std_intensity == pytest.approx(members.std(), rel=1e-10)
            assert row.zero_fraction == pytest.approx((images[labels == c] == 0).mean(), rel=1e-12)
            assert row.saturated_fraction == pytest.approx((images[labels == c] == 255).mean(), rel=1e-12)
            np.testing.assert_allclose(s.mean_images()[c], members.mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(s.std_images()[c], members.std(axis=0), rtol=1e-9, atol=1e-12)
        everything = table[(table.split == split) & (table.label == "all")].iloc[0]
        assert everything.images == len(images)
        assert everything.mean_intensity == pytest.approx(x.mean(), rel=1e-12)
        assert everything.std_intensity == pytest.approx(x.std(), rel=1e-10)
    assert (table[table.split == "train"].images.iloc[:10].sum()) == len(data.train_labels)


def test_some_pixels_are_saturated_so_that_column_is_tested(data):
    assert (data.train_images == 255).any() and (data.train_images == 0).any()


@pytest.mark.parametrize("bins", [2, 7, 32, 50, 256])
def test_rebin_equals_numpy_histogram(data, bins):
    summary = Summary.compute(data)
    images, labels = data.split("train")
    counts, edges = rebin(summary.splits["train"].value_counts, bins)
    assert edges[0] == pytest.approx(-0.5 / 255) and edges[-1] == pytest.approx(255.5 / 255)
    for c in range(10):
        expected, _ = np.histogram(images[labels == c] / 255.0, bins=edges)
        np.testing.assert_array_equal(counts[c], expected)
        assert counts[c].sum() == (labels == c).sum() * 28 * 28


def test_rebin_gives_every_bin_the_same_number_of_levels():
    flat = np.ones(256, np.int64)  # one pixel at every level
    counts, edges = rebin(flat, 32)
    assert (counts == 8).all()
    counts, _ = rebin(flat, 50)
    assert set(counts) == {5, 6} and counts.sum() == 256


def test_save_load_roundtrip(data, tmp_path):
    summary = Summary.compute(data)
    summary.save(tmp_path / "summary.npz")
    back = Summary.load(tmp_path / "summary.npz")
    assert back.classes == summary.classes and back.name == "tiny"
    for split in ("train", "test"):
        for field in ("counts", "value_counts", "pixel_sum", "pixel_sqsum"):
            np.testing.assert_array_equal(getattr(back.splits[split], field), getattr(summary.splits[split], field))


def test_empty_class_gives_zeros_not_nan(data):
    images, labels = data.split("train")
    keep = labels != 3
    from mnistflow.stats import SplitSummary

    s = SplitSummary.compute(images[keep], labels[keep], 10)
    assert s.counts[3] == 0
    assert np.isfinite(s.mean_images()).all() and np.isfinite(s.std_images()).all()
