"""MRI image folders (PNG or ``.npy``), the fixed ChestTrain train/val split, and PSNR.

Images are real, single-channel, scaled to ``[0, 1]``: 8-bit PNGs are divided by 255, 16-bit
ones by 65535; integer ``.npy`` arrays by their dtype's maximum; float ``.npy`` arrays are used
as they are (they should already be in ``[0, 1]``).

A dataset source is one of
    * a folder of ``*.png`` and/or ``*.npy`` files (sorted by name; a 3-D ``.npy`` inside
      counts as a stack of images),
    * a stacked ``(N, H, W)`` ``.npy`` file (e.g. ``ChestTrain/chest_train_float32.npy``),
    * a single PNG or ``(H, W)`` ``.npy`` file.

Item names: the file stem, or ``{stem}_{i:03d}`` (1-based) for the images of a stack.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["read_image", "MRIImages", "chest_split", "psnr", "mean_psnr", "CHEST_SPLIT_FILE"]

IMAGE_SUFFIXES = (".png", ".npy")
CHEST_SPLIT_FILE = Path(__file__).resolve().parents[1] / "weights" / "mri" / "chest_split.json"


def _to_unit(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32)
    raise ValueError(f"{source}: unsupported image dtype {arr.dtype} (need real numbers)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file as float32 ``(H, W)`` (PNG) or ``(H, W)`` / ``(N, H, W)`` (``.npy``).

    Colour PNGs are converted to gray. Raises ``FileNotFoundError`` / ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        if arr.ndim not in (2, 3):
            raise ValueError(f"{path}: .npy images must be (H, W) or (N, H, W), got {arr.shape}")
        return _to_unit(arr, str(path))
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"{path}: not a readable image")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2GRAY)
    return _to_unit(arr, str(path))


class MRIImages(Dataset):
    """Real MRI images in ``[0, 1]`` from a folder or ``.npy`` stack (see module docstring).

    Items are ``{"image": float32 (1, H, W), "name": str}``. Everything is loaded at
    construction (100 images of 256 x 256 are 26 MB).

    Args:
        source: folder, stacked ``.npy`` or single image file.
        augment: random 90-degree rotations and horizontal flips (paper App. B); only for
            square images when rotating.
    """

    def __init__(self, source: str | os.PathLike, augment: bool = False):
        source = Path(source)
        if source.is_dir():
            files = sorted(p for p in source.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise FileNotFoundError(f"no .png or .npy images in folder: {source}")
        elif source.is_file():
            files = [source]
        else:
            raise FileNotFoundError(f"data not found: {source}")
        self.source = source
        self.augment = augment
        self.images: list[np.ndarray] = []
        self.names: list[str] = []
        for path in files:
            arr = read_image(path)
            if arr.ndim == 3:
                for i, img in enumerate(arr):
                    self.images.append(img)
                    self.names.append(f"{path.stem}_{i + 1:03d}")
            else:
                self.images.append(arr)
                self.names.append(path.stem)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        img = torch.from_numpy(self.images[index])[None]
        if self.augment:
            if img.shape[-1] == img.shape[-2]:
                img = torch.rot90(img, int(torch.randint(4, (1,))), dims=(-2, -1))
            if torch.rand(()) < 0.5:
                img = torch.flip(img, dims=(-1,))
        return {"image": img.contiguous(), "name": self.names[index]}

    def sizes(self) -> set[tuple[int, int]]:
        """The distinct ``(H, W)`` sizes in the dataset."""
        return {tuple(img.shape[-2:]) for img in self.images}


def chest_split(names: list[str], split_file: str | os.PathLike = CHEST_SPLIT_FILE
                ) -> tuple[list[int], list[int]]:
    """Train / val indices of ChestTrain under the fixed split file.

    Works for the PNG folder (names ``chest_train_XXX``) and the stacked npy (matched by
    position, both are in the order 1..100). Raises ``ValueError`` for another dataset.
    """
    split = json.loads(Path(split_file).read_text())
    val_names = set(split["val_names"])
    if val_names & set(names):
        val = [i for i, n in enumerate(names) if n in val_names]
    elif len(names) == split["n"]:
        val = list(split["val_index"])
    else:
        raise ValueError(f"the data ({len(names)} images) is not ChestTrain ({split['n']}); "
                         f"give a validation count or a separate validation folder")
    val_set = set(val)
    return [i for i in range(len(names)) if i not in val_set], val


def psnr(x: torch.Tensor, ref: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """PSNR in dB per image, ``10 log10(peak^2 / mean((x - ref)^2))`` over ``(C, H, W)``.

    Args:
        x, ref: ``(B, C, H, W)`` real.

    Returns:
        ``(B,)``; ``inf`` where ``x == ref``.

    >>> float(psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.1)))  # mse 0.01
    20.0
    """
    mse = (x.to(torch.float64) - ref.to(torch.float64)).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(peak ** 2 / mse)).to(x.dtype) if mse.numel() else mse


def mean_psnr(values: list[float]) -> float:
    """Mean of per-image PSNRs (the usual reporting convention), ``nan`` for none."""
    return sum(values) / len(values) if values else math.nan
