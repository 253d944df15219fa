"""``stereo_tv.denoise``: shapes, errors, and shipped models when present."""

from __future__ import annotations

import numpy as np
import pytest

from stereo_tv.denoising import (
    WeightsError,
    add_noise,
    denoise,
    psnr,
    shipped_sigmas,
    synthetic_image,
)


def test_denoise_classical_shapes():
    x = synthetic_image()
    y = add_noise(x, 25.0, "api.png")
    z = denoise(y, 25, model="tv-chambolle")
    assert z.shape == x.shape and z.dtype == np.float32
    assert psnr(z, x) > psnr(y, x) + 3
    rgb = np.stack([y, y, y], -1)
    np.testing.assert_allclose(denoise(rgb, 25, model="tv-chambolle")[..., 1], z, atol=1e-6)


def test_denoise_errors():
    with pytest.raises(WeightsError, match="available sigmas"):
        denoise(np.zeros((8, 8)), 7.0, model="tv-asym-eg")
    with pytest.raises(ValueError, match="shape"):
        denoise(np.zeros(8), 25.0)
    with pytest.raises(ValueError, match="float"):
        denoise(np.zeros((8, 8), dtype=np.uint8), 25.0)
    with pytest.raises(ValueError, match="unknown model"):
        denoise(np.zeros((8, 8)), 25.0, model="nope")


@pytest.mark.skipif(25.0 not in shipped_sigmas("tv-asym-eg"), reason="no shipped tv-asym-eg")
def test_default_model_beats_classical_tv_on_synthetic_image():
    x = synthetic_image()
    y = add_noise(x, 25.0, "api.png")
    z = denoise(y, 25)
    assert z.shape == (61, 47)
    assert psnr(z, x) > psnr(y, x) + 5


def test_top_level_denoise_is_the_function():
    import stereo_tv

    x = synthetic_image()
    y = add_noise(x, 25.0, "api.png")
    np.testing.assert_array_equal(stereo_tv.denoise(y, 25, model="tv-chambolle"),
                                  denoise(y, 25, model="tv-chambolle"))
