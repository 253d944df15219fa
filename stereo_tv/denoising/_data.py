"""Denoising data: image files, Train400 random crops with fresh noise, fixed-noise test sets.

Layout expected on disk: a folder of 8-bit grayscale PNGs, e.g. ``Train400/test_001.png`` ...
``test_400.png`` (180x180) and ``Set12/01.png`` ... ``12.png`` (256x256 and 512x512).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from stereo_tv.cli import UserError
from stereo_tv.denoising._noise import add_noise

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_image", "write_image", "to_gray",
           "TrainCrops", "NoisyImages"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted image files of ``folder``; raises ``FileNotFoundError`` if it has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder: {folder}")
    return files


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as float32 in ``[0, 1]``: (H, W) for gray, (H, W, 3) RGB for colour.

    8- and 16-bit files are scaled by their maximum value; an alpha channel is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"cannot decode image: {path}")
    scale = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
    img = img.astype(np.float32) / scale
    if img.ndim == 3:
        if img.shape[2] == 1:
            img = img[..., 0]
        else:
            img = np.ascontiguousarray(img[..., 2::-1])  # BGR(A) -> RGB
    return img


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a float image in ``[0, 1]`` ((H, W) or (H, W, 3) RGB) as an 8-bit file."""
    img = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)
    img = np.round(img * 255.0).astype(np.uint8)
    if img.ndim == 3:
        img = np.ascontiguousarray(img[..., ::-1])  # RGB -> BGR
    ext = Path(path).suffix or ".png"
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise ValueError(f"cannot encode image as {ext}: {path}")
    Path(path).write_bytes(buf.tobytes())


def to_gray(img: np.ndarray) -> np.ndarray:
    """(H, W) float image; RGB is converted with the ITU-R 601 weights (as OpenCV)."""
    if img.ndim == 2:
        return img
    return (img[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


class TrainCrops(Dataset):
    """Random square crops of the training images with flips / rot90 and fresh noise.

    One epoch is ``crops_per_image * len(images)`` samples; each sample is a random crop of a
    random image (independent of the index), so any number of epochs sees new crops.

    Args:
        folder: folder of training images (Train400).
        sigma: noise level on the 0-255 scale.
        crop: crop side in pixels (clipped to the image size).
        crops_per_image: samples per image and epoch.
        augment: random horizontal flip and rotation by a multiple of 90 degrees.
        limit: use only the first ``limit`` images (for smoke runs).

    Returns per item ``(noisy, clean)``, float32 tensors of shape (1, crop, crop).
    """

    def __init__(self, folder: str | os.PathLike, sigma: float, crop: int = 64,
                 crops_per_image: int = 1, augment: bool = True, limit: int | None = None):
        files = list_images(folder)[:limit]
        self.names = [p.name for p in files]
        self.images = [to_gray(read_image(p)) for p in files]
        self.sigma = float(sigma)
        self.crop = int(crop)
        self.crops_per_image = int(crops_per_image)
        self.augment = augment

    def __len__(self) -> int:
        return self.crops_per_image * len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.randint(0, 2**62, (4,)).tolist()
        img = self.images[g[0] % len(self.images)]
        h, w = img.shape
        c = min(self.crop, h, w)
        i, j = g[1] % (h - c + 1), g[2] % (w - c + 1)
        x = img[i:i + c, j:j + c]
        if self.augment:
            if g[3] & 1:
                x = x[:, ::-1]
            x = np.rot90(x, (g[3] >> 1) % 4)
        clean = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
        noisy = clean + (self.sigma / 255.0) * torch.randn_like(clean)
        return noisy, clean


class NoisyImages(Dataset):
    """Fixed-noise evaluation set: every image gets the seeded noise of the protocol.

    Args:
        folder: folder of images.
        sigma: noise level on the 0-255 scale.
        limit: keep the first ``limit`` images (after ``every``).
        every: keep every ``every``-th image (sorted by name).
        offset: start at this image (``every=25, offset=12`` and ``every=25, offset=0`` are
            disjoint subsets).

    Returns per item ``(noisy, clean, name)`` with tensors of shape (1, H, W) (images are
    converted to gray); sizes may differ between items, so use batch size 1.
    """

    def __init__(self, folder: str | os.PathLike, sigma: float, limit: int | None = None,
                 every: int = 1, offset: int = 0):
        if every < 1 or offset < 0:
            # a ValueError, which the command-line tools print as a one-line error
            raise UserError(f"every must be >= 1 and offset >= 0, got {every} and {offset}")
        self.files = list_images(folder)[offset::every][:limit]
        self.sigma = float(sigma)
        self.clean = [to_gray(read_image(p)) for p in self.files]
        self.noisy = [add_noise(x, self.sigma, p.name) for x, p in zip(self.clean, self.files)]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        return (torch.from_numpy(self.noisy[index])[None],
                torch.from_numpy(self.clean[index])[None], self.files[index].name)
