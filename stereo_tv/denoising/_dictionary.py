"""Initial dictionary for the patch models: dictionary learning on Train400 patches.

The paper (Appendix B) initializes ``C``, ``D`` and ``W`` with one dictionary learned without
supervision (SPAMS there; scikit-learn's ``MiniBatchDictionaryLearning`` here) and divides it by
its largest singular value so that the initial step size ``eta_0 = 1`` satisfies ``eta <= 1/L``
(Section 3.3).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from stereo_tv.denoising._data import list_images, read_image, to_gray

__all__ = ["sample_patches", "learn_dictionary", "initial_dictionary"]


def sample_patches(folder: str | os.PathLike, patch: int = 9, n: int = 100_000,
                   center: bool = True, seed: int = 0) -> np.ndarray:
    """``n`` random ``patch x patch`` patches of the images of ``folder`` as rows (n, patch^2).

    With ``center=True`` each patch has its mean removed (the models code the patch around its
    mean). Flat patches (std < 1e-3) are kept rare by rejection.
    """
    rng = np.random.default_rng(seed)
    images = [to_gray(read_image(p)) for p in list_images(folder)]
    per = -(-n // len(images))
    rows = []
    for img in images:
        h, w = img.shape
        i = rng.integers(0, h - patch + 1, 2 * per)
        j = rng.integers(0, w - patch + 1, 2 * per)
        p = np.stack([img[a:a + patch, b:b + patch].ravel() for a, b in zip(i, j)])
        p = p[p.std(1) > 1e-3][:per] if (p.std(1) > 1e-3).sum() >= per else p[:per]
        rows.append(p)
    x = np.concatenate(rows)[:n].astype(np.float64)
    if center:
        x -= x.mean(1, keepdims=True)
    return x


def learn_dictionary(patches: np.ndarray, atoms: int = 256, alpha: float = 0.1,
                     iters: int = 300, seed: int = 0) -> np.ndarray:
    """Dictionary (patch^2, atoms) from ``MiniBatchDictionaryLearning``, unit-norm columns."""
    from sklearn.decomposition import MiniBatchDictionaryLearning
    dl = MiniBatchDictionaryLearning(n_components=atoms, alpha=alpha, batch_size=256,
                                     max_iter=iters, random_state=seed,
                                     transform_algorithm="lasso_lars")
    dl.fit(patches)
    d = dl.components_.T
    return d / np.linalg.norm(d, axis=0, keepdims=True).clip(1e-12)


def initial_dictionary(folder: str | os.PathLike, patch: int = 9, atoms: int = 256,
                       cache: str | os.PathLike | None = None, n: int = 100_000,
                       iters: int = 300) -> torch.Tensor:
    """Learned dictionary divided by its largest singular value, (patch^2, atoms) float32.

    ``atoms - 1`` atoms are learned on mean-removed patches and the last atom is the constant
    (DC) patch, since the patch games code patches without removing their mean. Cached when
    ``cache`` is given, in a file named by every input that changes the result:
    ``cache/dict_<folder name>_<patch>x<patch>_<atoms>_n<n>_it<iters>.npy``.
    """
    name = f"dict_{Path(folder).name}_{patch}x{patch}_{atoms}_n{n}_it{iters}.npy"
    path = Path(cache) / name if cache else None
    if path is not None and path.is_file():
        d = np.load(path)
    else:
        d = learn_dictionary(sample_patches(folder, patch, n), atoms - 1, iters=iters)
        dc = np.full((patch * patch, 1), 1.0 / patch)
        d = np.concatenate([d, dc], 1)
        d = d / np.linalg.norm(d, 2)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
            np.save(tmp, d)
            os.replace(tmp, path)
    return torch.from_numpy(np.asarray(d, dtype=np.float32))
