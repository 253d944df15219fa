"""Stereo datasets: KITTI 2015 / 2012, SceneFlow, Middlebury and plain folders of pairs.

Each item is a dict::

    {"left": (3, H, W) float32, ImageNet-normalized, "right": same,
     "disp": (1, H, W) float32 pixels (0 where invalid), "valid": (1, H, W) bool,
     "noc": (1, H, W) bool (KITTI with disp_noc only: valid and not occluded),
     "name": str}

``disp`` / ``valid`` are present only when the dataset has ground truth
(:attr:`StereoDataset.has_gt`). Frames are sorted by name.

Splits (``split="all" | "train" | "val"``):

* KITTI 2015: ``splits/kitti2015_{train,val}.txt``, frames ``000000_10``-``000159_10`` for
  training and ``000160_10``-``000199_10`` (40) for validation. PSMNet's own loader slices an
  unsorted ``os.listdir`` into ``[:160]`` / ``[160:]``, so its split depends on the file system;
  we ship the sorted version, the convention most later papers report on.
* KITTI 2012: ``splits/kitti2012_{train,val}.txt``, likewise the first 160 of the 194 training
  frames and the remaining 34.
* SceneFlow: FlyingThings3D ``TRAIN`` plus Driving and Monkaa for training, FlyingThings3D
  ``TEST`` for validation (PSMNet's protocol). Middlebury and folders: ``all`` only.

Layouts (``root`` may point at the dataset or at its ``training`` folder for KITTI):

* KITTI 2015: ``training/{image_2,image_3,disp_occ_0,disp_noc_0}/000000_10.png``
* KITTI 2012: ``training/{colored_0,colored_1,disp_occ,disp_noc}/000000_10.png``
* SceneFlow: ``frames_cleanpass/<...>/{left,right}/0006.png`` with
  ``disparity/<...>/left/0006.pfm``, for FlyingThings3D (``TRAIN/A/0000``), Driving
  (``35mm_focallength/scene_forwards/fast``) and Monkaa (``a_rain_of_stones_x2``); ``root`` is one
  of these or a folder holding several.
* Middlebury: ``<scene>/{im0.png, im1.png, disp0GT.pfm}`` (or ``disp0.pfm``; ``inf`` = no
  ground truth).
* Folder of pairs: ``left/*.png``, ``right/*.png`` with equal names, optional ``disp/`` maps
  (``.png`` KITTI 16-bit, ``.pfm`` or ``.npy``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stereo_tv.cli import UserError
from stereo_tv.data.transforms import JointAugment, image_to_tensor
from stereo_tv.io import read_disparity, read_image

__all__ = ["StereoFrame", "StereoDataset", "KITTI2015", "KITTI2012", "SceneFlow", "Middlebury",
           "FolderPairs", "build_dataset", "read_split", "DATASETS"]

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class StereoFrame:
    """Paths of one stereo frame; ``disp`` / ``noc`` are None without ground truth."""

    name: str
    left: Path
    right: Path
    disp: Path | None = None
    noc: Path | None = None


def read_split(name: str) -> list[str]:
    """Frame names of a shipped split file ``splits/<name>.txt`` (one per line, sorted)."""
    path = SPLITS_DIR / f"{name}.txt"
    if not path.is_file():
        valid = sorted(p.stem for p in SPLITS_DIR.glob("*.txt"))
        raise UserError(f"unknown split file {name!r}; shipped splits: {', '.join(valid)}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


class StereoDataset(Dataset):
    """Dataset over a list of :class:`StereoFrame`; returns the dict described in the module.

    Args:
        frames: the frames, in order.
        augment: a :class:`JointAugment` (training), or None (evaluation, full frames).
        seed: base seed; sample ``i`` of epoch ``e`` draws from ``default_rng([seed, e, i])``,
            so augmentation is reproducible whatever the worker layout.
    """

    def __init__(self, frames: list[StereoFrame], augment: JointAugment | None = None,
                 seed: int = 0):
        self.frames = list(frames)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.has_gt = bool(self.frames) and all(f.disp is not None for f in self.frames)
        self.has_noc = self.has_gt and all(f.noc is not None for f in self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(frames={len(self)}, has_gt={self.has_gt}, "
                f"augment={self.augment!r})")

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws (call once per epoch)."""
        self.epoch = int(epoch)

    def load(self, index: int) -> dict:
        """Frame ``index`` as numpy: images float32 (H, W, 3) in [0, 1], disp/valid/noc (H, W)."""
        frame = self.frames[index]
        left = _as_rgb(read_image(frame.left))
        right = _as_rgb(read_image(frame.right))
        if left.shape != right.shape:
            raise UserError(f"frame {frame.name}: left {left.shape[:2]} and right "
                            f"{right.shape[:2]} differ in size")
        sample = {"name": frame.name, "left": left.astype(np.float32) / 255.0,
                  "right": right.astype(np.float32) / 255.0}
        if self.has_gt:
            disp, valid = read_disparity(frame.disp)
            if disp.shape != left.shape[:2]:
                raise UserError(f"frame {frame.name}: disparity {disp.shape} and image "
                                f"{left.shape[:2]} differ in size")
            sample["disp"], sample["valid"] = disp, valid
            if self.has_noc:
                sample["noc"] = read_disparity(frame.noc)[1] & valid
        return sample

    def __getitem__(self, index: int) -> dict:
        sample = self.load(index)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            sample = self.augment(sample, rng)
        out = {"name": sample["name"], "left": image_to_tensor(sample["left"]),
               "right": image_to_tensor(sample["right"])}
        if "disp" in sample:
            out["disp"] = torch.from_numpy(np.ascontiguousarray(sample["disp"]))[None]
            out["valid"] = torch.from_numpy(np.ascontiguousarray(sample["valid"]))[None]
        if "noc" in sample:
            out["noc"] = torch.from_numpy(np.ascontiguousarray(sample["noc"]))[None]
        return out


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UserError(f"{what} folder not found: {path}")
    return path


def _select_split(frames: list[StereoFrame], split: str, split_name: str | None,
                  where: str) -> list[StereoFrame]:
    if split not in ("all", "train", "val"):
        raise UserError(f"unknown split {split!r}; valid: all, train, val")
    if split != "all":
        if split_name is None:
            raise UserError(f"{where} has no {split!r} split; use --split all")
        keep = set(read_split(f"{split_name}_{split}"))
        frames = [f for f in frames if f.name in keep]
    if not frames:
        raise UserError(f"no {split} frames found in {where}")
    return frames


def _kitti_frames(root, split, names: tuple[str, str, str, str], split_name: str,
                  image_set: str) -> list[StereoFrame]:
    root = Path(root)
    base = root / image_set if (root / image_set).is_dir() else root
    left_name, right_name, occ_name, noc_name = names
    left_dir = _require_dir(base / left_name, f"KITTI {left_name}")
    right_dir = _require_dir(base / right_name, f"KITTI {right_name}")
    occ_dir, noc_dir = base / occ_name, base / noc_name
    frames = []
    for left in sorted(left_dir.glob("*_10.png")):
        occ = occ_dir / left.name if occ_dir.is_dir() else None
        noc = noc_dir / left.name if noc_dir.is_dir() else None
        frames.append(StereoFrame(left.stem, left, right_dir / left.name, occ, noc))
    return _select_split(frames, split, split_name, str(base))


class KITTI2015(StereoDataset):
    """KITTI Stereo 2015: ``image_2`` / ``image_3``, GT ``disp_occ_0`` (+ ``disp_noc_0``).

    ``image_set="testing"`` reads the benchmark's test frames (no ground truth).
    """

    def __init__(self, root: str | os.PathLike, split: str = "all",
                 augment: JointAugment | None = None, seed: int = 0,
                 image_set: str = "training"):
        names = ("image_2", "image_3", "disp_occ_0", "disp_noc_0")
        super().__init__(_kitti_frames(root, split, names, "kitti2015", image_set), augment, seed)


class KITTI2012(StereoDataset):
    """KITTI Stereo 2012: ``colored_0`` / ``colored_1``, GT ``disp_occ`` (+ ``disp_noc``)."""

    def __init__(self, root: str | os.PathLike, split: str = "all",
                 augment: JointAugment | None = None, seed: int = 0,
                 image_set: str = "training"):
        names = ("colored_0", "colored_1", "disp_occ", "disp_noc")
        super().__init__(_kitti_frames(root, split, names, "kitti2012", image_set), augment, seed)


def _sceneflow_roots(root: Path, pass_dir: str) -> list[Path]:
    if (root / pass_dir).is_dir():
        return [root]
    subs = sorted(p for p in root.iterdir() if (p / pass_dir).is_dir()) if root.is_dir() else []
    if not subs:
        raise UserError(f"no SceneFlow '{pass_dir}' folder in {root} or its sub-folders")
    return subs


def _sceneflow_frames(root: Path, split: str, pass_: str) -> list[StereoFrame]:
    if pass_ not in ("clean", "final"):
        raise UserError(f"unknown SceneFlow pass {pass_!r}; valid: clean, final")
    if split not in ("all", "train", "val"):
        raise UserError(f"unknown split {split!r}; valid: all, train, val")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"SceneFlow folder not found: {root}")
    pass_dir = f"frames_{pass_}pass"
    roots = _sceneflow_roots(root, pass_dir)
    frames = []
    for sub in roots:
        prefix = "" if sub == root else f"{sub.name}/"
        for left in sorted((sub / pass_dir).rglob("left/*.png")):
            rel = left.relative_to(sub / pass_dir)
            is_test = rel.parts[0].upper() == "TEST"
            if (split == "train" and is_test) or (split == "val" and not is_test):
                continue
            seq = rel.parent.parent
            disp = sub / "disparity" / seq / "left" / f"{left.stem}.pfm"
            name = f"{prefix}{seq.as_posix()}/{left.stem}"
            frames.append(StereoFrame(name, left, left.parent.parent / "right" / left.name, disp))
    if not frames:
        raise UserError(f"no {split} SceneFlow frames found in {root}")
    return frames


class SceneFlow(StereoDataset):
    """SceneFlow (FlyingThings3D, Driving, Monkaa) with PFM disparities; ``pass_`` clean|final.

    Validation is FlyingThings3D ``TEST``; training is everything else.
    """

    def __init__(self, root: str | os.PathLike, split: str = "all",
                 augment: JointAugment | None = None, seed: int = 0, pass_: str = "clean"):
        super().__init__(_sceneflow_frames(Path(root), split, pass_), augment, seed)


def _middlebury_frames(root: Path, split: str, require_gt: bool) -> list[StereoFrame]:
    root = _require_dir(root, "Middlebury")
    scenes = [root] if (root / "im0.png").is_file() else sorted(p for p in root.iterdir()
                                                                 if (p / "im0.png").is_file())
    frames = []
    for scene in scenes:
        gt = scene / "disp0GT.pfm"
        if not gt.is_file() and (scene / "disp0.pfm").is_file():  # Middlebury 2014 full-size
            gt = scene / "disp0.pfm"
        if require_gt and not gt.is_file():
            continue
        frames.append(StereoFrame(scene.name, scene / "im0.png", scene / "im1.png",
                                  gt if gt.is_file() else None))
    return _select_split(frames, split, None, str(root))


class Middlebury(StereoDataset):
    """Middlebury scenes ``<scene>/im0.png, im1.png, disp0GT.pfm``; scenes without GT skipped
    unless ``require_gt=False`` (then the dataset has no ground truth at all)."""

    def __init__(self, root: str | os.PathLike, split: str = "all",
                 augment: JointAugment | None = None, seed: int = 0, require_gt: bool = True):
        super().__init__(_middlebury_frames(Path(root), split, require_gt), augment, seed)


def _folder_frames(root: Path, split: str, left: str, right: str, disp: str):
    left_dir = _require_dir(root / left, "left image")
    right_dir = _require_dir(root / right, "right image")
    disp_dir = root / disp
    frames = []
    for lpath in sorted(p for p in left_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
        gt = None
        if disp_dir.is_dir():
            found = [disp_dir / f"{lpath.stem}{s}" for s in (".png", ".pfm", ".npy")]
            gt = next((p for p in found if p.is_file()), None)
            if gt is None:
                raise UserError(f"no disparity for {lpath.name} in {disp_dir}")
        frames.append(StereoFrame(lpath.stem, lpath, right_dir / lpath.name, gt))
    return _select_split(frames, split, None, str(root))


class FolderPairs(StereoDataset):
    """Pairs ``root/left/X`` + ``root/right/X`` (+ ``root/disp/X.{png,pfm,npy}`` if present)."""

    def __init__(self, root: str | os.PathLike, split: str = "all",
                 augment: JointAugment | None = None, seed: int = 0, left: str = "left",
                 right: str = "right", disp: str = "disp"):
        super().__init__(_folder_frames(Path(root), split, left, right, disp), augment, seed)


DATASETS = {
    "kitti2015": KITTI2015,
    "kitti2012": KITTI2012,
    "sceneflow": SceneFlow,
    "middlebury": Middlebury,
    "folder": FolderPairs,
}


def build_dataset(name: str, root: str | os.PathLike, split: str = "all",
                  **kwargs) -> StereoDataset:
    """Dataset by name: one of :data:`DATASETS` (kitti2015, kitti2012, sceneflow, ...)."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name](root, split=split, **kwargs)
