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


def test_seeds_that_agree_exactly_are_no_certainty_once_the_images_count():
    exact = paired_seed_difference([0.9954, 0.9956, 0.9952], [0.9950, 0.9952, 0.9948])
    assert exact.low == pytest.approx(0.0004) and exact.high == pytest.approx(0.0004)  # seeds alone: no spread
    widened = paired_seed_difference([0.9954, 0.9956, 0.9952], [0.9950, 0.9952, 0.9948], images=5000)
    assert widened.low < 0 < widened.high and not widened.clear  # 2 images of 5,000
    assert np.isinf(paired_seed_difference([0.9], [0.8]).high)  # one seed, no images: unbounded
