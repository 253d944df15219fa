"""Initial CS-SC dictionaries: an overcomplete DCT, or dictionary learning on MRI patches.

Paper App. B initialises ``C``, ``D`` and ``W`` with one dictionary learned without supervision
(SPAMS there). Here :func:`learn_dictionary` uses scikit-learn's
``MiniBatchDictionaryLearning``; it is slow on a shared CPU, so the default initial dictionary
is the classical overcomplete 2-D DCT (:func:`overcomplete_dct`, the usual K-SVD start), which
needs no training. For CS-MRI the patches are *not* mean-centred: the codes must also represent
each patch's mean (the DCT's first atom is constant). :class:`stereo_tv.core.PatchGame` then
divides the dictionary by its largest singular value (Sec. 3.3), so the initial ISTA step is 1.
"""

from __future__ import annotations

import numpy as np

__all__ = ["overcomplete_dct", "sample_patches", "learn_dictionary"]


def overcomplete_dct(patch: int = 9, atoms: int = 256) -> np.ndarray:
    """``(patch^2, atoms)`` separable overcomplete DCT with unit-norm columns.

    ``atoms`` must be a square ``k^2`` with ``k >= patch``; the 1-D atoms are
    ``cos(pi j i / k)``, ``i < patch``, ``j < k``, with the mean removed for ``j > 0``, and the
    2-D atoms their Kronecker products (atom 0 is constant).

    >>> d = overcomplete_dct(9, 256)
    >>> d.shape, bool(np.allclose(d[:, 0], 1 / 9)), bool(np.allclose((d * d).sum(0), 1))
    ((81, 256), True, True)
    """
    k = int(round(atoms ** 0.5))
    if k * k != atoms or k < patch:
        raise ValueError(f"atoms must be a square k^2 with k >= patch={patch}, got {atoms}")
    i = np.arange(patch)[:, None]
    d1 = np.cos(np.pi * i * np.arange(k)[None, :] / k)
    d1[:, 1:] -= d1[:, 1:].mean(0, keepdims=True)
    d1 /= np.linalg.norm(d1, axis=0, keepdims=True)
    return np.kron(d1, d1)


def sample_patches(images: list[np.ndarray], patch: int = 9, n: int = 20_000,
                   seed: int = 0) -> np.ndarray:
    """``n`` random ``patch x patch`` patches (rows of length ``patch^2``), float64.

    Patches are drawn uniformly over positions of all images (twice as many candidates as
    needed); all-zero background patches are used only when there are too few others.

    >>> p = sample_patches([np.ones((12, 10))], patch=3, n=5)
    >>> p.shape, float(p.mean())
    ((5, 9), 1.0)
    """
    rng = np.random.default_rng(seed)
    per = -(-n // len(images))
    rows = []
    for img in images:
        h, w = img.shape
        if h < patch or w < patch:
            raise ValueError(f"image {h}x{w} is smaller than the {patch}x{patch} patch")
        i = rng.integers(0, h - patch + 1, 2 * per)
        j = rng.integers(0, w - patch + 1, 2 * per)
        p = np.stack([img[a:a + patch, b:b + patch].ravel() for a, b in zip(i, j)])
        background = p.max(1) <= 1e-3
        rows.append(p[np.argsort(background, kind="stable")][:per])   # background last
    return np.concatenate(rows)[:n].astype(np.float64)


def learn_dictionary(patches: np.ndarray, atoms: int = 256, alpha: float = 0.01,
                     iters: int = 50, seed: int = 0) -> np.ndarray:
    """``(patch^2, atoms)`` dictionary with unit-norm columns (scikit-learn, l1 penalty ``alpha``).
    """
    from sklearn.decomposition import MiniBatchDictionaryLearning

    learner = MiniBatchDictionaryLearning(n_components=atoms, alpha=alpha, batch_size=256,
                                          max_iter=iters, random_state=seed)
    learner.fit(patches)
    d = learner.components_.T
    return d / np.linalg.norm(d, axis=0, keepdims=True).clip(1e-12)
