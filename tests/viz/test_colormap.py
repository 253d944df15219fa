"""Colour maps: known values by construction (invalid -> black, range ends -> end colours)."""

import cv2
import numpy as np
import pytest
import torch

from stereo_tv.viz.colormap import (
    KITTI_ERROR_BINS,
    confidence_to_color,
    depth_to_color,
    disparity_to_color,
    error_to_color,
)


@pytest.mark.parametrize("kind", ["kitti", "turbo"])
def test_disparity_shape_dtype_and_invalid_black(kind):
    d = np.linspace(0, 40, 9 * 7).reshape(9, 7)
    d[2, 3] = np.nan
    d[4, 4] = np.inf
    valid = np.ones_like(d, dtype=bool)
    valid[0, 6] = False
    rgb = disparity_to_color(d, vmax=40, kind=kind, valid=valid)
    assert rgb.shape == (9, 7, 3) and rgb.dtype == np.uint8
    for y, x in [(2, 3), (4, 4), (0, 6)]:
        assert rgb[y, x].tolist() == [0, 0, 0]


def test_kitti_ends_and_nodes():
    # vmax -> white (top colour), vmin -> black; beyond vmax clips to white.
    rgb = disparity_to_color(np.array([[0.0, 10.0, 25.0]]), vmax=10)
    assert rgb[0].tolist() == [[0, 0, 0], [255, 255, 255], [255, 255, 255]]
    # The first node after black is pure blue at 114 / 1000 of the range.
    seg = np.array([114, 185, 114, 174, 114, 185, 114]) / 1000.0
    ends = np.cumsum(seg)
    rgb = disparity_to_color(ends[None, :6] * 100, vmax=100)
    assert rgb[0].tolist() == [[0, 0, 255], [255, 0, 0], [255, 0, 255], [0, 255, 0],
                               [0, 255, 255], [255, 255, 0]]
    # Halfway along the first segment is half blue.
    assert disparity_to_color(np.array([[57.0]]), vmax=1000)[0, 0].tolist() == [0, 0, 128]


def test_turbo_matches_opencv_and_auto_range():
    d = np.array([[2.0, 4.0, 6.0]])
    rgb = disparity_to_color(d, kind="turbo", vmin=None)  # automatic range: 2 -> 0, 6 -> 255
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], cv2.COLORMAP_TURBO)[0, :, ::-1]
    assert rgb[0, 0].tolist() == lut[0].tolist()
    assert rgb[0, 1].tolist() == lut[128].tolist()
    assert rgb[0, 2].tolist() == lut[255].tolist()


def test_accepts_tensors_with_leading_ones():
    d = torch.rand(1, 1, 5, 3) * 10
    a = disparity_to_color(d, vmax=10)
    b = disparity_to_color(d[0, 0].numpy(), vmax=10)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="2-D map"):
        disparity_to_color(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="kind must be one of"):
        disparity_to_color(np.zeros((5, 3)), kind="jet")


def test_error_colours_follow_d1_criterion():
    gt = np.array([[20.0, 20.0, 20.0, 100.0, 100.0, 100.0, 20.0]])
    # errors: 0, 2.9 (ratio 0.97 -> blue bin [0.75,1.5)), 3.5 (ratio 1.17), 4 on gt=100
    # (5 px criterion -> ratio 0.8), 400 (ratio min(133, 80) -> worst), NaN prediction
    # (worst), gt invalid.
    pred = np.array([[20.0, 22.9, 23.5, 104.0, 500.0, np.nan, 25.0]])
    valid = np.array([[1, 1, 1, 1, 1, 1, 0]], dtype=bool)
    rgb = error_to_color(pred, gt, valid)
    colours = dict(KITTI_ERROR_BINS)
    assert rgb[0, 0].tolist() == list(colours[0.1875])
    assert rgb[0, 1].tolist() == list(colours[1.5])
    assert rgb[0, 2].tolist() == list(colours[1.5])
    assert rgb[0, 3].tolist() == list(colours[1.5])
    assert rgb[0, 4].tolist() == list(colours[np.inf])
    assert rgb[0, 5].tolist() == list(colours[np.inf])
    assert rgb[0, 6].tolist() == [0, 0, 0]


def test_error_default_valid_is_positive_gt_and_dilation():
    gt = np.zeros((7, 9))
    gt[3, 4] = 10.0
    rgb = error_to_color(np.full_like(gt, 10.0), gt)
    assert rgb.any(axis=2).sum() == 1
    rgb = error_to_color(np.full_like(gt, 10.0), gt, dilate=1)
    assert rgb.any(axis=2).sum() == 5  # OpenCV's radius-1 ellipse is a plus sign
    assert rgb[2, 4].tolist() == list(KITTI_ERROR_BINS[0][1])


def test_depth_and_confidence():
    z = np.array([[1.0, 2.0, 0.0, np.nan]])
    rgb = depth_to_color(z, vmin=1.0, vmax=2.0)
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], cv2.COLORMAP_TURBO)[0, :, ::-1]
    assert rgb[0, 0].tolist() == lut[255].tolist()   # near is the hot end
    assert rgb[0, 1].tolist() == lut[0].tolist()
    assert rgb[0, 2].tolist() == [0, 0, 0] and rgb[0, 3].tolist() == [0, 0, 0]
    c = confidence_to_color(np.array([[0.0, 1.0, 2.0]]))
    assert c[0].tolist() == [[0, 0, 0], [255, 255, 255], [255, 255, 255]]
