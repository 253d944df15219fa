"""Noise protocol, image IO, datasets and metrics (fakes in tmp_path; Set12 when present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stereo_tv.denoising import (
    NoisyImages,
    TrainCrops,
    add_noise,
    noise_seed,
    psnr,
    read_image,
    ssim,
    write_image,
)


def _fake_folder(tmp_path, names=("test_001.png", "test_002.png"), shape=(13, 11)):
    rng = np.random.default_rng(0)
    for n in names:
        write_image(tmp_path / n, rng.random(shape))
    return tmp_path


def test_seed_is_stable_and_depends_on_base_name_only():
    assert noise_seed("01.png") == noise_seed("/x/y/01.png")
    assert noise_seed("01.png") != noise_seed("02.png")
    assert 0 <= noise_seed("01.png") < 2**63


def test_noise_regression_value():
    # regression value of the protocol (PCG64 + SHA-256 seed); changing it changes every table
    y = add_noise(np.zeros((2, 3)), 255.0, "01.png")
    again = add_noise(np.zeros((2, 3)), 255.0, "01.png")
    np.testing.assert_array_equal(y, again)
    assert y.dtype == np.float32
    ref = np.random.default_rng(noise_seed("01.png")).standard_normal((2, 3))
    np.testing.assert_allclose(y, ref, rtol=1e-6)


def test_noise_scales_with_sigma_and_is_not_clipped():
    x = np.full((40, 30), 0.99)
    y5, y50 = add_noise(x, 5.0, "a.png"), add_noise(x, 50.0, "a.png")
    np.testing.assert_allclose((y50 - x), 10 * (y5 - x), rtol=1e-4, atol=1e-6)
    assert y50.max() > 1.0  # no clipping
    assert abs(np.std(y50 - x) * 255 - 50) < 5


def test_psnr_known_values_and_clipping():
    clean = np.zeros((5, 7))
    assert psnr(np.full((5, 7), 0.1), clean) == pytest.approx(20.0)
    assert psnr(np.full((5, 7), -3.0), clean) == float("inf")  # clipped to 0
    assert ssim(clean + 0.5, clean + 0.5) == pytest.approx(1.0)


def test_read_write_roundtrip_gray_and_colour(tmp_path):
    gray = np.linspace(0, 1, 9 * 7).reshape(9, 7)
    write_image(tmp_path / "g.png", gray)
    np.testing.assert_allclose(read_image(tmp_path / "g.png"), gray, atol=0.5 / 255 + 1e-6)
    rgb = np.zeros((5, 3, 3))
    rgb[..., 0] = 1.0
    write_image(tmp_path / "c.png", rgb)
    back = read_image(tmp_path / "c.png")
    assert back.shape == (5, 3, 3) and back[..., 0].min() == 1.0 and back[..., 1:].max() == 0.0
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def test_noisy_images_is_deterministic(tmp_path):
    folder = _fake_folder(tmp_path)
    a, b = NoisyImages(folder, 25.0), NoisyImages(folder, 25.0)
    assert len(a) == 2
    noisy, clean, name = a[1]
    assert noisy.shape == clean.shape == (1, 13, 11) and name == "test_002.png"
    torch.testing.assert_close(noisy, b[1][0])
    np.testing.assert_array_equal(noisy[0].numpy(),
                                  add_noise(clean[0].numpy(), 25.0, "test_002.png"))


def test_noisy_images_every_and_offset_pick_disjoint_subsets(tmp_path):
    folder = _fake_folder(tmp_path, names=[f"im_{i:02d}.png" for i in range(7)])
    names = lambda ds: [ds[i][2] for i in range(len(ds))]  # noqa: E731
    assert names(NoisyImages(folder, 25.0, every=3)) == ["im_00.png", "im_03.png", "im_06.png"]
    assert names(NoisyImages(folder, 25.0, every=3, offset=1)) == ["im_01.png", "im_04.png"]
    assert names(NoisyImages(folder, 25.0, every=3, offset=1, limit=1)) == ["im_01.png"]
    # an image keeps its noise whichever subset it is in
    torch.testing.assert_close(NoisyImages(folder, 25.0, every=3, offset=1)[1][0],
                               NoisyImages(folder, 25.0)[4][0])
    with pytest.raises(ValueError, match="offset"):
        NoisyImages(folder, 25.0, offset=-1)


def test_train_crops_shapes_and_noise_level(tmp_path):
    folder = _fake_folder(tmp_path, shape=(20, 17))
    ds = TrainCrops(folder, sigma=50.0, crop=8, crops_per_image=3)
    assert len(ds) == 6
    noisy, clean = ds[0]
    assert noisy.shape == clean.shape == (1, 8, 8)
    big = TrainCrops(folder, sigma=50.0, crop=64)  # crop clipped to the image size
    noisy, clean = big[0]
    assert noisy.shape == (1, 17, 17)
    assert 0.1 < float((noisy - clean).std()) < 0.3


def test_set12_protocol_psnr_of_noisy(shared):
    folder = shared("data", "denoise", "Set12")
    ds = NoisyImages(folder, 25.0, limit=2)
    noisy, clean, _ = ds[0]
    # PSNR of the noisy input (clipped) sits near 20.2 dB at sigma 25
    assert 19.5 < psnr(noisy[0].numpy(), clean[0].numpy()) < 21.0
