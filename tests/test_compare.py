import numpy as np
import pytest

from mnistflow.compare import paired_difference, paired_seed_difference


def test_identical_runs_differ_by_nothing_and_name_no_winner():
    hits = np.random.default_rng(0).random((3, 500)) < 0.9
    same = paired_difference(hits, hits)
    assert (same.mean, same.low, same.high, same.clear) == (0.0, 0.0, 0.0, False)


def test_the_interval_covers_a_true_difference_of_zero_at_least_95_times_in_100():
    # two equally good models, every seed its own runs, scored on the same 2,000 images
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        hard = rng.random(2000) < 0.02  # images some runs get wrong
        a = ~(hard & (rng.random((3, 2000)) < 0.5))
        b = ~(hard & (rng.random((3, 2000)) < 0.5))
        result = paired_difference(a, b)
        covered += result.low <= 0 <= result.high
    assert covered / 400 >= 0.93  # at least the 95% it claims, to sampling noise (it errs wide)


def test_a_lead_on_every_seed_and_many_images_is_clear():
    rng = np.random.default_rng(2)
    b = rng.random((3, 5000)) < 0.95
    a = b | (rng.random((3, 5000)) < 0.5)  # a gets half of b's mistakes right as well
    result = paired_difference(a, b)
    assert result.clear and result.low > 0 and result.mean == pytest.approx((a.mean() - b.mean()))


def test_one_accuracy_per_seed_gives_a_paired_t_interval():
    result = paired_seed_difference([0.92, 0.91, 0.85], [0.89, 0.90, 0.88])
    differences = np.array([0.03, 0.01, -0.03])
    half = 4.302653 * differences.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert (result.mean, result.low, result.high) == pytest.approx((differences.mean(), differences.mean() - half,
                                                                    differences.mean() + half))
    assert not result.clear
    assert np.isinf(paired_seed_difference([0.9], [0.8]).high)  # one seed: unbounded
