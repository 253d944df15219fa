"""The adapter against outputs recorded with the original PSMNet release (../shared/reference).

The release ran on CPU in float32 with the KITTI 2015 checkpoint, ``align_corners=True``
upsampling, ImageNet normalization and zero padding at the top and right to a multiple of 16.
Tolerance: 0.05 px max abs difference (we measure about 3e-4 px).
"""

from __future__ import annotations

import numpy as np
import pytest

from stereo_tv.io import read_disparity, read_image
from stereo_tv.metrics import stereo_metrics
from stereo_tv.models import PSMNet
from stereo_tv.predict import predict_disparity

FRAMES = {
    "motorcycle": ("middlebury/Motorcycle_skimage/im0.png", "middlebury/Motorcycle_skimage/im1.png",
                   "middlebury/Motorcycle_skimage/disp0GT.pfm"),
    "kitti12_000000": ("kitti2012/training/colored_0/000000_10.png",
                       "kitti2012/training/colored_1/000000_10.png",
                       "kitti2012/training/disp_occ/000000_10.png"),
    "kitti12_000001": ("kitti2012/training/colored_0/000001_10.png",
                       "kitti2012/training/colored_1/000001_10.png",
                       "kitti2012/training/disp_occ/000001_10.png"),
}
# Scores of the references (reference/README.md): EPE px, D1, bad-1, bad-2, bad-3 percent.
README_SCORES = {
    "kitti12_000000": (0.507, 0.392, 9.85, 1.11, 0.394),
    "kitti12_000001": (1.059, 4.494, 19.58, 8.30, 5.185),
    "motorcycle": (1.799, 8.441, 23.53, 10.65, 8.441),
}
TOLERANCE_PX = 0.05


@pytest.fixture
def release_model(shared):
    return PSMNet.from_checkpoint(shared("weights", "psmnet_kitti2015.tar"), maxdisp=192)


def _check_frame(name, model, shared):
    left_path, right_path, _ = FRAMES[name]
    left = read_image(shared("data", left_path))
    right = read_image(shared("data", right_path))
    ref = np.load(shared("reference", "psmnet_kitti2015", f"{name}.npy"))
    disp = predict_disparity(model, left, right)
    assert disp.dtype == np.float32 and disp.shape == ref.shape
    diff = np.abs(disp - ref).max()
    assert diff < TOLERANCE_PX, f"{name}: max abs diff {diff:.4f} px"


@pytest.mark.shared
def test_motorcycle_matches_release(release_model, shared):
    _check_frame("motorcycle", release_model, shared)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("name", ["kitti12_000000", "kitti12_000001"])
def test_kitti_frames_match_release(name, release_model, shared):
    _check_frame(name, release_model, shared)


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(README_SCORES))
def test_reference_scores_match_readme(name, shared):
    """Our readers and metrics give the reference README's numbers for the recorded outputs."""
    ref = np.load(shared("reference", "psmnet_kitti2015", f"{name}.npy"))
    gt, valid = read_disparity(shared("data", FRAMES[name][2]))
    m = stereo_metrics(ref, gt, valid)
    got = (m["epe"], m["d1"], m["bad1"], m["bad2"], m["bad3"])
    for value, expected in zip(got, README_SCORES[name]):
        assert value == pytest.approx(expected, abs=6e-3)
