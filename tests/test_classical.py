"""SGBM backbone: recovers a known constant shift; holes filled; confidence; API shape rules."""

import cv2
import numpy as np
import pytest
import torch

from stereo_tv.models.classical import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SGBMBackbone,
    fill_invalid,
    left_right_check,
    sgbm_disparity,
)

SHIFT = 7


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smoothed random RGB texture, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, size=(h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0) * 2 - 128, 0, 255).astype(np.uint8)


def _shifted_pair(h: int = 31, w: int = 77, shift: int = SHIFT):
    """Right view = texture moved left by ``shift``, so left(x) = right(x - shift)."""
    tex = _texture(h, w + shift)
    return np.ascontiguousarray(tex[:, :w]), np.ascontiguousarray(tex[:, shift:])


def _normalise(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD).view(1, 3, 1, 1)


def test_sgbm_function_recovers_constant_shift():
    left, right = _shifted_pair()
    d = sgbm_disparity(left, right, maxdisp=16, block_size=3)
    interior = d[4:-4, 16 + 4:-4]   # left border x < maxdisp has no full search range
    assert np.isfinite(interior).mean() > 0.95
    assert np.nanmedian(interior) == pytest.approx(SHIFT, abs=0.1)
    assert np.nanmean(np.abs(interior - SHIFT) < 0.5) > 0.95


def test_backbone_dense_output_known_shift_and_confidence():
    left, right = _shifted_pair()
    model = SGBMBackbone(maxdisp=16, block_size=3)
    lt, rt = _normalise(left), _normalise(right)
    disp, conf = model(lt, rt, return_confidence=True)
    assert disp.shape == (1, 1, 31, 77) and conf.shape == (1, 1, 31, 77)
    assert disp.dtype == torch.float32 and not disp.requires_grad
    assert torch.isfinite(disp).all()
    interior = disp[0, 0, 4:-4, 20:-4]
    assert (interior - SHIFT).abs().lt(0.5).float().mean() > 0.95
    assert conf.min() >= 0 and conf.max() <= 1
    assert conf[0, 0, 4:-4, 20:-4].mean() > 0.8
    # filled holes (left border x < maxdisp, where nothing matched) have confidence 0
    assert conf[0, 0, :, :16].max() == 0
    assert torch.equal(model(lt, rt), disp)
    # batch == stack of singles
    batch = model(torch.cat([lt, rt]), torch.cat([rt, lt]))
    assert torch.equal(batch[:1], disp)


def test_backbone_checks_shapes_and_names():
    with pytest.raises(ValueError, match="block_size"):
        SGBMBackbone(block_size=4)
    with pytest.raises(ValueError, match="fill must be one of"):
        SGBMBackbone(fill="zero")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        SGBMBackbone(maxdisp=16)(torch.zeros(1, 1, 9, 7), torch.zeros(1, 1, 9, 7))
    assert "maxdisp=16" in repr(SGBMBackbone(maxdisp=16))


def test_fill_background_takes_the_farther_neighbour():
    d = np.array([[np.nan, 4.0, np.nan, np.nan, 9.0, np.nan],
                  [np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]])
    out = fill_invalid(d)
    assert out[0].tolist() == [4.0, 4.0, 4.0, 4.0, 9.0, 9.0]
    assert out[1].tolist() == [6.5] * 6            # empty row: median of all valid pixels
    assert np.isfinite(fill_invalid(d, method="inpaint")).all()
    assert fill_invalid(d, method="none")[0].tolist() == [0.0, 4.0, 0.0, 0.0, 9.0, 0.0]


def test_left_right_check_detects_mismatch():
    dl = np.full((2, 6), 2.0, dtype=np.float32)
    dr = dl.copy()
    dr[1, 2] = 5.0                       # left pixel x=4 lands on right x=2
    diff = left_right_check(dl, dr)
    assert np.isinf(diff[:, :2]).all()   # x - d < 0: no match in the right image
    assert diff[0, 2:].tolist() == [0.0] * 4
    assert diff[1, 4] == 3.0
