"""Stereo metrics on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereo_tv.metrics import (
    bad_pixel_rate,
    d1_error,
    end_point_error,
    mean_metrics,
    stereo_metrics,
)


def test_perfect_prediction_scores_zero():
    gt = np.linspace(1, 50, 63, dtype=np.float32).reshape(9, 7)
    assert stereo_metrics(gt, gt) == {"epe": 0.0, "d1": 0.0, "bad1": 0.0, "bad2": 0.0,
                                      "bad3": 0.0}


def test_hand_computed_values():
    # errors 0.5, 1.5, 2.5, 3.5, 10 on gt 10, 10, 10, 100, 100
    gt = np.array([10.0, 10.0, 10.0, 100.0, 100.0])
    pred = gt + np.array([0.5, -1.5, 2.5, 3.5, -10.0])
    m = stereo_metrics(pred, gt)
    assert m["epe"] == pytest.approx(18.0 / 5)
    assert m["bad1"] == pytest.approx(80.0)   # 1.5, 2.5, 3.5, 10
    assert m["bad2"] == pytest.approx(60.0)   # 2.5, 3.5, 10
    assert m["bad3"] == pytest.approx(40.0)   # 3.5, 10
    assert m["d1"] == pytest.approx(20.0)     # only 10 > 5 % of 100; 3.5 < 5


def test_thresholds_are_strict():
    gt = np.array([100.0, 10.0])
    pred = np.array([103.0, 13.0])  # errors exactly 3
    assert bad_pixel_rate(pred, gt, threshold=3.0) == 0.0
    assert d1_error(pred, gt) == 0.0
    assert bad_pixel_rate(pred, gt, threshold=2.0) == 100.0


def test_d1_equals_bad3_below_60px():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 59.9, size=(9, 7))
    pred = gt + rng.normal(scale=4, size=gt.shape)
    m = stereo_metrics(pred, gt)
    assert m["d1"] == m["bad3"] > 0


def test_valid_mask_and_default_mask():
    gt = np.array([[0.0, 5.0], [np.inf, 5.0]])
    pred = np.array([[100.0, 6.0], [7.0, 5.0]])
    assert end_point_error(pred, gt) == pytest.approx(0.5)  # only the two finite positive gts
    valid = np.array([[False, True], [False, False]])
    assert end_point_error(pred, gt, valid) == pytest.approx(1.0)


def test_nothing_valid_gives_nan():
    m = stereo_metrics(np.ones(3), np.zeros(3))
    assert all(math.isnan(v) for v in m.values())


def test_torch_and_numpy_agree_and_shapes_checked():
    rng = np.random.default_rng(1)
    gt = rng.uniform(1, 80, size=(1, 1, 9, 7)).astype(np.float32)
    pred = (gt + rng.normal(scale=3, size=gt.shape)).astype(np.float32)
    assert stereo_metrics(torch.from_numpy(pred), torch.from_numpy(gt)) == stereo_metrics(pred, gt)
    with pytest.raises(ValueError, match="shapes differ"):
        stereo_metrics(pred[0], gt)


def test_mean_metrics_weighs_frames_equally_and_skips_nan():
    frames = [{"epe": 1.0, "d1": 10.0}, {"epe": 3.0, "d1": math.nan}]
    assert mean_metrics(frames) == {"epe": 2.0, "d1": 10.0}
