"""Side-by-side figure: layout, titles, error key, atomic save."""

import cv2
import numpy as np
import pytest

from stereo_tv.viz.figure import (
    error_legend,
    format_metrics,
    grid,
    save_figure,
    stereo_figure,
    titled,
)


def test_titled_adds_a_white_bar_above():
    img = np.zeros((9, 70, 3), np.uint8)
    out = titled(img, "title", ["a line"])
    assert out.shape[1] == 70 and out.shape[0] > 9
    assert np.array_equal(out[-9:], img)
    assert out[0, -1].tolist() == [255, 255, 255]
    assert (out[:-9] < 255).any()                      # some text was drawn


def test_grid_pads_and_aligns_columns():
    a, b = np.zeros((5, 7, 3), np.uint8), np.zeros((3, 4, 3), np.uint8)
    out = grid([[a, b], [None, b]], pad=2)
    assert out.shape == (2 + 5 + 2 + 3 + 2, 2 + 7 + 2 + 4 + 2, 3)
    assert out[2:7, 2:9].max() == 0 and out[9:12, 2:9].min() == 255   # empty cell stays white


def test_format_metrics():
    assert format_metrics({"epe": 1.234, "d1": 5.0, "bad2": 7.25}) == \
        "EPE 1.23 px  D1 5.0%  bad2 7.2%"


def test_stereo_figure_layout_and_save(tmp_path):
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (31, 45, 3), dtype=np.uint8)
    gt = np.full((31, 45), 10.0)
    gt[0, :] = np.nan
    disps = {"raw": gt + 2.0, "refined": gt + 0.5}
    metrics = {"raw": {"epe": 2.0}, "refined": {"epe": 0.5}}
    fig = stereo_figure(left, disps, gt=gt, metrics=metrics, panel_width=90, title="t")
    assert fig.dtype == np.uint8 and fig.ndim == 3
    assert fig.shape[1] == 6 + 4 * (90 + 6)          # left, gt, raw, refined
    no_gt = stereo_figure(left, disps, panel_width=90)
    assert no_gt.shape[1] == 6 + 3 * (90 + 6) and no_gt.shape[0] < fig.shape[0]
    path = save_figure(fig, tmp_path / "f" / "fig.png")
    assert cv2.imread(str(path)).shape == fig.shape
    assert not list(path.parent.glob(".*tmp*"))
    with pytest.raises(ValueError, match="expected"):
        stereo_figure(left, {"raw": np.zeros((5, 5))})


def test_error_legend_has_every_bin_colour():
    key = error_legend(120, 200)
    assert key.shape == (200, 120, 3)
    assert (key == [165, 0, 38]).all(axis=2).any() and (key == [49, 54, 149]).all(axis=2).any()
