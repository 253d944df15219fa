"""Readers and writers for stereo files: images, PFM, KITTI 16-bit disparity PNGs, ``.npy``.

Every reader raises ``FileNotFoundError`` for a missing file and
:class:`stereo_tv.cli.UserError` (one line, naming the file) for a corrupt or unexpected one.
Writers write exactly the given path; wrap them in :class:`stereo_tv.cli.atomic_path` to avoid
half-written files.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.png"
    >>> write_kitti_disp(p, np.array([[0.0, 1.5]], dtype=np.float32))
    >>> disp, valid = read_kitti_disp(p)
    >>> disp.tolist(), valid.tolist()
    ([[0.0, 1.5]], [[False, True]])
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from stereo_tv.cli import UserError

__all__ = [
    "read_image",
    "write_image",
    "read_pfm",
    "write_pfm",
    "read_kitti_disp",
    "write_kitti_disp",
    "read_disparity",
]

KITTI_SCALE = 256.0


def _check_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(21, "expected a file, got a directory", str(path))


def _imread(path: Path) -> np.ndarray:
    _check_file(path)
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise UserError(f"cannot read image {path}: corrupt or unsupported image file")
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as uint8 RGB ``(H, W, 3)``, or ``(H, W)`` when the file is grayscale.

    Alpha is dropped (RGBA -> RGB); 16-bit images are scaled to 8 bits.
    """
    path = Path(path)
    img = _imread(path)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise UserError(f"image {path} has unsupported sample type {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
        img = cv2.cvtColor(img, code)
    return np.ascontiguousarray(img)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write uint8 / uint16 ``(H, W)`` or RGB ``(H, W, 3)`` to a format chosen by the suffix."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(os.fspath(path), image):
        raise OSError(f"could not write image {path}")


_PFM_HEADER = re.compile(rb"^(PF|Pf)\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s")


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """Read a PFM file as float32 ``(H, W)`` (``Pf``) or ``(H, W, 3)`` (``PF``), top row first."""
    path = Path(path)
    _check_file(path)
    raw = path.read_bytes()
    match = _PFM_HEADER.match(raw[:256])
    if match is None:
        raise UserError(f"cannot read PFM {path}: bad header (expected 'PF' or 'Pf', width, "
                        f"height, scale)")
    channels = 3 if match.group(1) == b"PF" else 1
    width, height = int(match.group(2)), int(match.group(3))
    scale = float(match.group(4))
    dtype = np.dtype("<f4") if scale < 0 else np.dtype(">f4")
    count = width * height * channels
    body = raw[match.end():]
    if len(body) < count * 4:
        raise UserError(f"cannot read PFM {path}: truncated ({len(body)} bytes of data, "
                        f"expected {count * 4})")
    data = np.frombuffer(body, dtype=dtype, count=count).astype(np.float32)
    shape = (height, width, 3) if channels == 3 else (height, width)
    return np.ascontiguousarray(np.flipud(data.reshape(shape)))


def write_pfm(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write float ``(H, W)`` or ``(H, W, 3)`` as little-endian PFM (rows stored bottom first)."""
    array = np.asarray(array, dtype="<f4")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"PFM needs (H, W) or (H, W, 3), got {array.shape}")
    tag = b"PF" if array.ndim == 3 else b"Pf"
    header = tag + b"\n%d %d\n-1\n" % (array.shape[1], array.shape[0])
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(np.flipud(array)).tobytes())


def read_kitti_disp(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit disparity PNG: ``(disp, valid)``, disp = value / 256, 0 = no data."""
    path = Path(path)
    img = _imread(path)
    if img.dtype != np.uint16 or img.ndim != 2:
        raise UserError(f"{path} is not a KITTI disparity map (need a 16-bit single-channel "
                        f"PNG, got {img.dtype} with shape {img.shape})")
    return img.astype(np.float32) / KITTI_SCALE, img > 0


def write_kitti_disp(path: str | os.PathLike, disp: np.ndarray) -> None:
    """Write ``disp`` (H, W) as a KITTI 16-bit PNG, round(disp * 256); non-finite or <= 0 -> 0."""
    disp = np.asarray(disp, dtype=np.float64)
    if disp.ndim != 2:
        raise ValueError(f"disparity must be (H, W), got {disp.shape}")
    disp = np.where(np.isfinite(disp), disp, 0.0)
    value = np.clip(np.round(disp * KITTI_SCALE), 0, 65535).astype(np.uint16)
    if not cv2.imwrite(os.fspath(path), value):
        raise OSError(f"could not write disparity PNG {path}")


def read_disparity(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ground truth by suffix: ``.png`` (KITTI), ``.pfm`` or ``.npy``: ``(disp, valid)``.

    For PFM / npy, non-finite (Middlebury stores ``inf``) and non-positive values are invalid and
    set to 0 in ``disp``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return read_kitti_disp(path)
    if suffix == ".pfm":
        disp = read_pfm(path)
    elif suffix == ".npy":
        _check_file(path)
        try:
            disp = np.load(path, allow_pickle=False).astype(np.float32)
        except (ValueError, OSError, EOFError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
    else:
        raise UserError(f"unknown disparity format {path.name!r}; use .png (KITTI), .pfm or .npy")
    if disp.ndim != 2:
        raise UserError(f"disparity {path} must be one channel, got shape {disp.shape}")
    valid = np.isfinite(disp) & (disp > 0)
    return np.where(valid, disp, 0.0).astype(np.float32), valid
