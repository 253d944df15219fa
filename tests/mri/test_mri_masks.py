"""Masks: the radial generator hits the rate, file loading and the centring convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stereo_tv.mri import load_mask, radial_mask, sampling_rate, symmetrize_mask
from stereo_tv.mri.masks import find_shared_mask


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.3, 0.4, 0.5])
def test_radial_mask_hits_requested_rate(rate):
    mask = radial_mask(256, 256, rate)
    assert mask.shape == (256, 256) and mask.dtype == torch.bool
    assert abs(sampling_rate(mask) - rate) < 0.005
    assert bool(mask[0, 0])                                   # DC sampled (unshifted layout)
    assert torch.equal(mask, symmetrize_mask(mask))           # conjugate-symmetric


def test_radial_mask_odd_sizes_and_monotone():
    rates = [sampling_rate(radial_mask(33, 20, r)) for r in (0.2, 0.4, 0.6)]
    assert rates == sorted(rates)
    assert abs(rates[1] - 0.4) < 0.05
    assert bool(radial_mask(9, 7, 1.0).all())
    with pytest.raises(ValueError, match="rate"):
        radial_mask(8, 8, 0.0)
    with pytest.raises(ValueError, match="rate"):
        radial_mask(8, 8, 20)          # percent instead of a fraction


def test_symmetrize_known_values():
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[1, 2] = True                                             # -(1, 2) mod 4 = (3, 2)
    s = symmetrize_mask(m)
    assert s.sum() == 2 and bool(s[3, 2])


def test_load_mask_formats_and_centering(tmp_path):
    import cv2
    from scipy.io import savemat

    mask = np.zeros((6, 5), dtype=np.uint8)
    mask[0, 0] = mask[1, 4] = 1                                 # DC at [0, 0]
    np.save(tmp_path / "m.npy", mask)
    cv2.imwrite(str(tmp_path / "m.png"), mask * 255)
    savemat(tmp_path / "m.mat", {"mask_matrix": mask})
    for name in ("m.npy", "m.png", "m.mat"):
        loaded = load_mask(tmp_path / name)
        assert loaded.dtype == torch.bool and loaded.tolist() == (mask > 0).tolist()
    np.save(tmp_path / "c.npy", np.fft.fftshift(mask))          # displayed layout, DC centred
    assert torch.equal(load_mask(tmp_path / "c.npy", centered=True), torch.from_numpy(mask > 0))
    with pytest.raises(FileNotFoundError, match="mask file not found"):
        load_mask(tmp_path / "nope.png")
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="2-D"):
        load_mask(tmp_path / "bad.npy")


@pytest.mark.shared
@pytest.mark.parametrize("rate, expected", [(10, 0.102), (20, 0.202), (30, 0.302),
                                            (40, 0.401), (50, 0.500)])
def test_shipped_masks_convention(shared, rate, expected):
    data = shared("data")
    mat = load_mask(find_shared_mask(rate, data))
    png = load_mask(data / "mri" / "masks" / f"radial_{rate}.png")
    assert torch.equal(mat, png)
    assert sampling_rate(mat) == pytest.approx(expected, abs=1e-3)
    assert bool(mat[0, 0]) and not bool(mat[128, 128])         # DC at [0, 0], not centred
    assert torch.equal(mat, symmetrize_mask(mat))
