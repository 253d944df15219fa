"""The denoising noise protocol: additive white Gaussian noise with a fixed seed per image.

Protocol (used for validation, evaluation, benchmarks and tests):

* the clean image ``x`` is grayscale, float, in ``[0, 1]`` (8-bit values divided by 255);
* the noisy image is ``y = x + (sigma / 255) * n`` with ``n ~ N(0, 1)`` i.i.d. per pixel, where
  ``sigma`` is given on the 0-255 scale; ``y`` is **not** clipped;
* ``n`` is drawn by NumPy's PCG64 generator seeded with :func:`noise_seed` of the image's file
  name (a SHA-256 digest, stable across runs, machines and Python versions, unlike ``hash()``),
  so the same image always gets the same noise, and different ``sigma`` scale the same ``n``;
* PSNR is computed on the output clipped to ``[0, 1]`` (see :mod:`stereo_tv.denoising._metrics`).

Training uses fresh random noise on every crop instead (see :mod:`stereo_tv.denoising._data`).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

__all__ = ["noise_seed", "add_noise"]


def noise_seed(name: str | os.PathLike) -> int:
    """Stable 63-bit seed from the base name of an image file.

    >>> noise_seed("01.png") == noise_seed("/any/folder/01.png")
    True
    """
    base = os.path.basename(os.fspath(name))
    digest = hashlib.sha256(base.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def add_noise(x: np.ndarray, sigma: float, seed: int | str) -> np.ndarray:
    """Return ``x + (sigma / 255) * N(0, 1)`` as float32, without clipping.

    Args:
        x: clean image, float array of any shape (values in ``[0, 1]``).
        sigma: noise standard deviation on the 0-255 scale, ``>= 0``.
        seed: an integer seed, or a file name turned into one by :func:`noise_seed`.

    >>> y = add_noise(np.zeros((2, 3)), 0.0, "a.png")
    >>> float(abs(y).max())
    0.0
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 (0-255 scale), got {sigma}")
    if isinstance(seed, (str, os.PathLike)):
        seed = noise_seed(seed)
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(np.shape(x))
    return (np.asarray(x, dtype=np.float64) + (sigma / 255.0) * n).astype(np.float32)
