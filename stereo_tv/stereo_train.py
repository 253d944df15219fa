"""Stereo training for the engine (:mod:`stereo_tv.train`): task, frame lists, backbone cache, and
the shared ``main`` of ``scripts/finetune_kitti.py`` and ``scripts/train_sceneflow.py``.

Two routes share one task (:class:`StereoTask`):

* full model: the engine trains ``RefinedStereo(backbone, TVRefine)`` (or the bare backbone
  with ``--tv-iters 0``) on ``{"left", "right", "disp", "valid"}`` batches. The loss is
  PSMNet's: ``sum_i lambda_i smoothL1(d_i, gt)`` over the backbone's outputs (0.5 / 0.7 / 1.0
  for the stacked hourglass), plus ``refine_weight * smoothL1(refined, gt)``, on pixels with
  ground truth (and ``gt < maxdisp`` with ``--mask-maxdisp``, the SceneFlow protocol).
* CPU route (``--freeze-backbone --cache-dir DIR``): the frozen backbone runs once per frame
  (:func:`build_cache`, one ``.pt`` per frame keyed by the backbone's weights hash and the
  frame), and the engine trains the head alone on ``{"left", "disp0", ["conf0"], "disp",
  "valid"}`` batches (:class:`CachedBackboneDataset`, random crops of cached maps).

Validation (full frames) returns per-frame means of EPE, D1, bad-1/2/3 of the refined output,
and ``raw_*`` of the backbone's, e.g. ``kitti2015/d1`` and ``kitti2015/raw_d1``.

Frame lists (``--dataset list --data FILE.yaml``) combine the datasets of
:mod:`stereo_tv.data`: a YAML list whose entries are either a dataset or one frame::

    - {dataset: kitti2012, root: ../data/kitti2012}             # every frame, split "all"
    - {dataset: sceneflow, root: ../sf, split: train, frames: [TRAIN/A/0000/0006]}
    - {name: mine, left: l.png, right: r.png, disp: d.pfm}

Relative paths are relative to the list file (``$VARS`` are expanded); frame names get the
dataset as a prefix (``kitti2012/000000_10``).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from stereo_tv.cli import UserError, atomic_path, pick_device
from stereo_tv.data import DATASETS, JointAugment, StereoDataset, StereoFrame, build_dataset
from stereo_tv.data.transforms import image_to_tensor, tensor_to_image
from stereo_tv.metrics import mean_metrics, stereo_metrics
from stereo_tv.predict import pad_to_multiple, predict_tensor
from stereo_tv.refine import RefinedStereo, TVRefine, load_head, save_head
from stereo_tv.train import (
    Engine,
    EngineConfig,
    Task,
    add_engine_args,
    load_model_weights,
    seed_everything,
)

__all__ = ["StereoTask", "masked_smooth_l1", "soft_bad_pixel", "read_frame_list",
           "build_stereo_dataset", "backbone_key", "backbone_cache_key", "build_cache",
           "CachedBackboneDataset", "BACKBONES", "build_backbone", "add_stereo_args", "main"]

BACKBONES = ("psmnet", "timm", "sgbm")
FRAME_LIST = "list"


# ----------------------------------------------------------------------------------- task
def masked_smooth_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                     beta: float = 1.0, per_frame: bool = False) -> torch.Tensor:
    """Mean smooth-L1 of ``pred - gt`` over ``mask`` (``beta = 0``: L1); 0 (with a graph) if
    nothing is valid. ``per_frame``: mean over each frame's pixels, then over the frames (each
    frame weighs the same, like the per-frame metrics) instead of over all pixels."""
    if not mask.any():
        return pred.sum() * 0.0
    if not per_frame:
        return F.smooth_l1_loss(pred[mask], gt[mask], reduction="mean", beta=beta)
    per_pixel = F.smooth_l1_loss(pred, gt, reduction="none", beta=beta) * mask
    counts = mask.flatten(1).sum(1)
    keep = counts > 0
    return (per_pixel.flatten(1).sum(1)[keep] / counts[keep]).mean()


def soft_bad_pixel(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                   threshold: float = 3.0, temperature: float = 0.5,
                   per_frame: bool = False) -> torch.Tensor:
    """Differentiable bad-``threshold`` rate: mean of ``sigmoid((|pred - gt| - threshold) / T)``
    over ``mask`` (per frame, then over frames, with ``per_frame``). It pushes pixels whose error
    is near the threshold below it, the pixels that D1 and the 3-px error count."""
    if not mask.any():
        return pred.sum() * 0.0
    soft = torch.sigmoid(((pred - gt).abs() - threshold) / temperature)
    if not per_frame:
        return soft[mask].mean()
    counts = mask.flatten(1).sum(1)
    keep = counts > 0
    return ((soft * mask).flatten(1).sum(1)[keep] / counts[keep]).mean()


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


class StereoTask(Task):
    """Supervised stereo on either batch kind (module docstring).

    Args:
        loss_weights: smooth-L1 weights of the backbone's training outputs (final last).
        refine_weight: weight of the refined output's smooth-L1 (the model must end with a
            head: ``RefinedStereo`` in training, or the head itself on cached batches).
        refined: whether the model has a head (False: bare backbone fine-tuning).
        max_gt_disp: ignore pixels whose ground truth is ``>= max_gt_disp`` (None: keep all).
        refine_beta: smooth-L1 ``beta`` of the refined output's loss (0: L1, i.e. the EPE).
        per_frame: average the refined loss per frame, then over frames (see
            :func:`masked_smooth_l1`); the backbone's losses always pool pixels (PSMNet).
        outlier_weight: weight of :func:`soft_bad_pixel` (3 px) on the refined output.
    """

    def __init__(self, loss_weights: tuple[float, ...] = (0.5, 0.7, 1.0),
                 refine_weight: float = 1.0, refined: bool = True,
                 max_gt_disp: float | None = None, refine_beta: float = 1.0,
                 per_frame: bool = False, outlier_weight: float = 0.0):
        self.loss_weights = tuple(float(w) for w in loss_weights)
        self.refine_weight = float(refine_weight)
        self.refined = refined
        self.max_gt_disp = max_gt_disp
        self.refine_beta = float(refine_beta)
        self.per_frame = per_frame
        self.outlier_weight = float(outlier_weight)

    def _mask(self, batch: dict) -> torch.Tensor:
        mask = batch["valid"]
        if self.max_gt_disp is not None:
            mask = mask & (batch["disp"] < self.max_gt_disp)
        return mask

    def training_step(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        gt, mask = batch["disp"], self._mask(batch)
        if "disp0" in batch:                                  # cached route: model = the head
            refined = model(batch["disp0"], image=batch["left"], confidence=batch.get("conf0"))
            backbone_outs: tuple[torch.Tensor, ...] = ()
        else:
            outs = model(batch["left"], batch["right"])
            outs = outs if isinstance(outs, (tuple, list)) else (outs,)
            backbone_outs, refined = (outs[:-1], outs[-1]) if self.refined else (outs, None)
        logs: dict[str, torch.Tensor] = {}
        loss = gt.new_zeros(())
        trained = [o for o in backbone_outs if o.requires_grad]
        if trained:
            if len(trained) != len(self.loss_weights):
                raise ValueError(f"the backbone gave {len(trained)} outputs but there are "
                                 f"{len(self.loss_weights)} loss weights {self.loss_weights}")
            for w, out in zip(self.loss_weights, trained):
                loss = loss + w * masked_smooth_l1(out, gt, mask)
            logs["backbone_loss"] = loss.detach()
        if backbone_outs:
            logs["raw_epe"] = (backbone_outs[-1].detach() - gt)[mask].abs().mean()
        if refined is not None:
            refine_loss = masked_smooth_l1(refined, gt, mask, self.refine_beta, self.per_frame)
            if self.outlier_weight:
                outliers = soft_bad_pixel(refined, gt, mask, per_frame=self.per_frame)
                refine_loss = refine_loss + self.outlier_weight * outliers
                logs["soft_bad3"] = outliers.detach()
            loss = loss + self.refine_weight * refine_loss
            logs["refine_loss"] = refine_loss.detach()
            logs["epe"] = (refined.detach() - gt)[mask].abs().mean()
        return loss, logs

    def predict(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Backbone and refined disparity ``(B, 1, H, W)`` of a full-frame batch (refined None
        for a bare backbone). The head sees only the real frame, never the padding."""
        left = batch["left"]
        if "disp0" in batch:
            return batch["disp0"], model(batch["disp0"], image=left,
                                         confidence=batch.get("conf0"))
        net = _unwrap(model)
        backbone = net.backbone if isinstance(net, RefinedStereo) else net
        multiple = getattr(backbone, "size_multiple", 16)
        (lp, (top, _)), (rp, _) = pad_to_multiple(left, multiple), pad_to_multiple(batch["right"],
                                                                                    multiple)
        h, w = left.shape[-2:]
        if not isinstance(net, RefinedStereo):
            return net(lp, rp)[..., top:, :w], None
        outs, conf = net.backbone_disparity(lp, rp, confidence=getattr(net.refine, "confidence",
                                                                       False))
        raw = outs[-1][..., top:top + h, :w]
        conf = conf[..., top:top + h, :w] if conf is not None else None
        return raw, net.refine(raw, image=left, confidence=conf)

    def validate(self, model: nn.Module, loader) -> dict[str, float]:
        rows, raw_rows = [], []
        for batch in loader:
            raw, refined = self.predict(model, batch)
            mask = self._mask(batch)
            for i in range(raw.shape[0]):
                raw_rows.append(stereo_metrics(raw[i], batch["disp"][i], mask[i]))
                if refined is not None:
                    rows.append(stereo_metrics(refined[i], batch["disp"][i], mask[i]))
        out = {f"raw_{k}": v for k, v in mean_metrics(raw_rows).items()}
        out.update(mean_metrics(rows) if rows else mean_metrics(raw_rows))
        return out

    def log_images(self, writer, model: nn.Module, batch: dict, step: int) -> None:
        try:
            from stereo_tv.viz.colormap import disparity_to_color, error_to_color
        except ImportError:  # viz is optional: grey maps instead
            disparity_to_color = error_to_color = None
        raw, refined = self.predict(model, batch)
        gt, valid = batch["disp"][0, 0].cpu().numpy(), self._mask(batch)[0, 0].cpu().numpy()
        vmax = float(gt[valid].max()) if valid.any() else None
        maps = {"raw": raw[0, 0].float().cpu().numpy()}
        if refined is not None:
            maps["refined"] = refined[0, 0].float().cpu().numpy()
        writer.add_image("images/left", tensor_to_image(batch["left"][0].float()), step,
                         dataformats="HWC")
        for name, disp in maps.items():
            if disparity_to_color is None:
                grey = np.clip(disp / (vmax or disp.max() or 1.0), 0, 1)
                writer.add_image(f"images/{name}", grey[None], step)
                continue
            writer.add_image(f"images/{name}", disparity_to_color(disp, vmax=vmax), step,
                             dataformats="HWC")
            writer.add_image(f"images/{name}_error", error_to_color(disp, gt, valid), step,
                             dataformats="HWC")
        if refined is not None:
            change = np.abs(maps["refined"] - maps["raw"])
            writer.add_image("images/refine_change", np.clip(change / 3.0, 0, 1)[None], step)

    def solver_quantities(self, model: nn.Module) -> dict[str, torch.Tensor]:
        net = _unwrap(model)
        head = net if isinstance(net, TVRefine) else getattr(net, "refine", None)
        if isinstance(head, TVRefine):
            return {f"head/{k}": v for k, v in head.solver_quantities().items()}
        return super().solver_quantities(model)


class _FreshDraws(Dataset):
    """A :class:`StereoDataset` whose augmentation draws are fresh for every sample: its draws
    are keyed by ``(seed, epoch, index)``, and ``epoch`` is taken from torch's RNG (seeded per
    epoch and batch by the engine, saved in checkpoints), so a frame repeated ``--repeat``
    times in one epoch still gets different crops. (The engine's own ``set_epoch`` call would
    give every copy the same draw.)"""

    def __init__(self, dataset: StereoDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        self.dataset.set_epoch(int(torch.randint(0, 2**31 - 1, ())))
        return self.dataset[index]


# ----------------------------------------------------------------------------- frame lists
def _list_path(base: Path, value: Any, key: str, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise UserError(f"{where}: '{key}' must be a path string, got {value!r}")
    path = Path(os.path.expandvars(value))
    return (path if path.is_absolute() else base / path).resolve()


def read_frame_list(path: str | os.PathLike) -> list[StereoFrame]:
    """Frames of a YAML frame list (module docstring), names prefixed by their dataset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "frame list not found", str(path))
    try:
        import yaml

        entries = yaml.safe_load(path.read_text())
    except Exception as exc:  # noqa: BLE001 - yaml errors are the user's file
        raise UserError(f"frame list {path} is not valid YAML: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise UserError(f"frame list {path} must be a non-empty YAML list of entries")
    base, frames = path.parent, []
    dataset_keys, frame_keys = {"dataset", "root", "split", "pass", "frames"}, {
        "name", "left", "right", "disp"}
    for i, entry in enumerate(entries, 1):
        where = f"{path} entry {i}"
        if not isinstance(entry, dict):
            raise UserError(f"{where} must be a mapping, got {entry!r}")
        if "dataset" in entry:
            unknown = set(entry) - dataset_keys
            if unknown:
                raise UserError(f"{where}: unknown keys {sorted(unknown)}; valid: "
                                f"{sorted(dataset_keys)}")
            name = entry["dataset"]
            kwargs = {"pass_": entry["pass"]} if "pass" in entry else {}
            ds = build_dataset(name, _list_path(base, entry.get("root"), "root", where),
                               split=entry.get("split", "all"), **kwargs)
            keep = entry.get("frames")
            chosen = [f for f in ds.frames if keep is None or f.name in keep]
            missing = set(keep or ()) - {f.name for f in ds.frames}
            if missing:
                raise UserError(f"{where}: frames not found: {sorted(missing)}")
            frames += [StereoFrame(f"{name}/{f.name}", f.left, f.right, f.disp, f.noc)
                       for f in chosen]
        else:
            unknown = set(entry) - frame_keys
            if unknown or not {"left", "right"} <= set(entry):
                raise UserError(f"{where}: a frame needs left and right (optional name, disp); "
                                f"got keys {sorted(entry)}")
            left = _list_path(base, entry["left"], "left", where)
            disp = _list_path(base, entry["disp"], "disp", where) if "disp" in entry else None
            frames.append(StereoFrame(str(entry.get("name", left.stem)), left,
                                      _list_path(base, entry["right"], "right", where), disp))
    names = [f.name for f in frames]
    if len(set(names)) != len(names):
        raise UserError(f"frame list {path} names a frame twice")
    return frames


def build_stereo_dataset(dataset: str, data: str | os.PathLike, split: str = "all",
                         augment: JointAugment | None = None, seed: int = 0,
                         **kwargs) -> StereoDataset:
    """A dataset of :mod:`stereo_tv.data` by name, or a frame list (``dataset="list"``)."""
    if dataset == FRAME_LIST:
        return StereoDataset(read_frame_list(data), augment=augment, seed=seed)
    return build_dataset(dataset, data, split=split, augment=augment, seed=seed, **kwargs)


# ----------------------------------------------------------------------------- backbone cache
def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def backbone_key(name: str, weights: str | os.PathLike | None = None,
                 options: dict | None = None) -> str:
    """Cache folder name ``<name>-<12 hex>`` from the backbone, its weight file's SHA-256 and
    its options; other weights or options give another folder."""
    h = hashlib.sha256(json.dumps({"name": name, "options": options or {}},
                                  sort_keys=True).encode())
    if weights is not None:
        h.update(_file_sha256(Path(weights)).encode())
    return f"{name}-{h.hexdigest()[:12]}"


def _has_confidence(backbone: nn.Module) -> bool:
    return "return_confidence" in inspect.signature(backbone.forward).parameters


def backbone_cache_key(backbone: nn.Module, name: str, weights: str | os.PathLike | None,
                       maxdisp: int, timm_encoder: str | None = None) -> str:
    """The cache key the scripts use for a backbone built by :func:`build_backbone`."""
    options = {"maxdisp": maxdisp, "confidence": _has_confidence(backbone)}
    if name == "timm":
        options["timm_encoder"] = timm_encoder
    return backbone_key(name, weights, options)


def _frame_file(frame: StereoFrame) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in frame.name)
    tag = hashlib.sha1(str(Path(frame.left).resolve()).encode()).hexdigest()[:8]
    return f"{stem}-{tag}.pt"


def build_cache(backbone: nn.Module, dataset: StereoDataset, cache_dir: str | os.PathLike,
                key: str, confidence: bool = False, log=print) -> list[Path]:
    """Run ``backbone`` once per frame of ``dataset`` and store ``{"disp", "conf", "frame",
    "backbone", "seconds"}`` (``(H, W)`` float32) in ``cache_dir/key/<frame>.pt``; frames already
    cached are reused. Returns the files, in dataset order."""
    folder = Path(cache_dir) / key
    paths = []
    for i, frame in enumerate(dataset.frames):
        path = folder / _frame_file(frame)
        paths.append(path)
        if path.is_file():
            continue
        sample = dataset.load(i)
        left, right = image_to_tensor(sample["left"])[None], image_to_tensor(sample["right"])[None]
        start = time.perf_counter()
        out = predict_tensor(backbone, left, right, return_confidence=confidence)
        seconds = time.perf_counter() - start
        disp, conf = out if confidence else (out, None)
        entry = {"disp": disp[0, 0].float().cpu(), "frame": frame.name, "backbone": key,
                 "seconds": seconds,
                 "conf": conf[0, 0].float().cpu() if conf is not None else None}
        with atomic_path(path) as tmp:
            torch.save(entry, tmp)
        log(f"cached {frame.name} ({disp.shape[-1]}x{disp.shape[-2]}, {seconds:.1f} s) -> {path}")
    return paths


class CachedBackboneDataset(Dataset):
    """Frames of ``dataset`` with their cached backbone output, for training the head alone.

    Items: ``{"name", "left" (3, h, w), "disp0" (1, h, w), ["conf0" (1, h, w)], "disp",
    "valid"}``, cropped and colour-jittered (left image only, the guide) by ``augment``.

    Args:
        dataset: a :class:`StereoDataset` with ground truth (its own ``augment`` is ignored).
        cache: the files of :func:`build_cache`, in dataset order.
        augment: a :class:`JointAugment` or None (full frames).
        repeat: each frame appears ``repeat`` times per epoch (several crops of a few frames).
        seed: base seed of the draws; each item also draws from torch's RNG, which the engine
            seeds per epoch, so crops change across epochs and resume identically.
    """

    def __init__(self, dataset: StereoDataset, cache: list[Path],
                 augment: JointAugment | None = None, repeat: int = 1, seed: int = 0):
        if len(cache) != len(dataset):
            raise ValueError(f"{len(cache)} cache files for {len(dataset)} frames")
        if not dataset.has_gt:
            raise UserError("training the head on cached outputs needs ground truth")
        self.dataset, self.cache, self.augment = dataset, list(cache), augment
        self.repeat, self.seed = int(repeat), seed

    def __len__(self) -> int:
        return len(self.dataset) * self.repeat

    def __getitem__(self, index: int) -> dict:
        i = index % len(self.dataset)
        sample = self.dataset.load(i)
        entry = torch.load(self.cache[i], map_location="cpu", weights_only=True)
        maps = {"disp0": entry["disp"].numpy(), "disp": sample["disp"], "valid": sample["valid"]}
        if entry.get("conf") is not None:
            maps["conf0"] = entry["conf"].numpy()
        left = sample["left"]
        if maps["disp0"].shape != left.shape[:2]:
            raise UserError(f"cache {self.cache[i]} does not match frame {sample['name']}; "
                            "delete it to recompute")
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, index, int(torch.randint(0, 2**31 - 1, ()))])
            p = self.augment.draw(rng, *left.shape[:2])
            top, lft, ch, cw = p["box"]
            left = self.augment.jitter(left[top:top + ch, lft:lft + cw], p)
            maps = {k: v[top:top + ch, lft:lft + cw] for k, v in maps.items()}
        out = {"name": sample["name"], "left": image_to_tensor(np.ascontiguousarray(left))}
        for k, v in maps.items():
            out[k] = torch.from_numpy(np.ascontiguousarray(v))[None]
        return out


# ----------------------------------------------------------------------------- builders
def build_backbone(name: str, weights: str | None = None, maxdisp: int = 192,
                   timm_encoder: str = "resnet10t", sgbm_block: int = 5) -> nn.Module:
    """``psmnet`` (official or stereo_tv checkpoint), ``timm`` (:class:`TimmStereo`, optional
    engine checkpoint) or ``sgbm`` (OpenCV, no weights)."""
    if name == "psmnet":
        from stereo_tv.models import PSMNet

        if weights:
            return PSMNet.from_checkpoint(weights, maxdisp=maxdisp)
        warnings.warn("PSMNet without --weights starts from random weights", UserWarning,
                      stacklevel=2)
        return PSMNet(maxdisp=maxdisp)
    if name == "timm":
        from stereo_tv.models.timm_stereo import TimmStereo

        model = TimmStereo(timm_encoder, maxdisp=maxdisp)
        return load_model_weights(model, weights) if weights else model
    if name == "sgbm":
        from stereo_tv.models.classical import SGBMBackbone

        if weights:
            raise UserError("the sgbm backbone has no weights; drop --weights")
        return SGBMBackbone(maxdisp=maxdisp, block_size=sgbm_block)
    raise UserError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")


def add_stereo_args(parser: argparse.ArgumentParser, **defaults: Any) -> argparse.ArgumentParser:
    """The stereo options (data, backbone, head, loss, CPU route) plus the engine's; ``defaults``
    override the parser defaults (a recipe); a ``--config`` YAML overrides them in turn."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default="kitti2015", choices=[*DATASETS, FRAME_LIST],
                   help=f"training data; '{FRAME_LIST}': --data is a YAML frame list")
    g.add_argument("--data", default=None, help="dataset root, or the frame-list file")
    g.add_argument("--train-split", default="train", choices=["all", "train", "val"])
    g.add_argument("--val-dataset", default=None, help="validation data kind (default --dataset)")
    g.add_argument("--val-data", default=None, help="validation root/list (default --data)")
    g.add_argument("--val-split", default="val", choices=["all", "train", "val"])
    g.add_argument("--crop", type=int, nargs=2, default=[256, 512], metavar=("H", "W"),
                   help="random training crop (0 0: full frames, batch size 1)")
    g.add_argument("--jitter", type=float, default=0.0,
                   help="brightness/contrast/saturation jitter strength (0 = off)")
    g.add_argument("--repeat", type=int, default=1, help="crops per frame per epoch")
    g.add_argument("--holdout", default=None, metavar="FRAME",
                   help="leave this frame out of training and validate on it alone")
    g.add_argument("--pass", dest="pass_", default="clean", choices=["clean", "final"],
                   help="SceneFlow rendering pass")
    g = parser.add_argument_group("model")
    g.add_argument("--backbone", default="psmnet", choices=BACKBONES)
    g.add_argument("--weights", default=None, help="backbone checkpoint")
    g.add_argument("--maxdisp", type=int, default=192)
    g.add_argument("--timm-encoder", default="resnet10t", help="timm model of --backbone timm")
    g.add_argument("--tv-iters", type=int, default=24, help="head iterations (0: no head)")
    g.add_argument("--tv-method", default="extragrad", choices=["extragrad", "gd"])
    g.add_argument("--tv-connectivity", type=int, default=8, choices=[4, 8])
    g.add_argument("--tv-symmetric", action=argparse.BooleanOptionalAction, default=False)
    g.add_argument("--tv-guided", action=argparse.BooleanOptionalAction, default=False,
                   help="edge-aware weights from the image")
    g.add_argument("--tv-confidence", action=argparse.BooleanOptionalAction, default=False,
                   help="data term weighted by the backbone's confidence")
    g.add_argument("--tv-scale", default="mean", help="'mean' or a fixed scale in pixels")
    g.add_argument("--head", default=None, help="start from this head file / shipped head name")
    g.add_argument("--freeze-backbone", action=argparse.BooleanOptionalAction, default=False,
                   help="train the head only")
    g.add_argument("--cache-dir", default=None,
                   help="with --freeze-backbone: cache the backbone's outputs here (CPU route)")
    g.add_argument("--export-head", default=None, help="write the trained head file here")
    g = parser.add_argument_group("loss")
    g.add_argument("--loss-weights", type=float, nargs="+", default=None,
                   help="backbone outputs' smooth-L1 weights (default: the backbone's, "
                        "0.5 0.7 1.0 for PSMNet)")
    g.add_argument("--refine-weight", type=float, default=1.0)
    g.add_argument("--refine-beta", type=float, default=1.0,
                   help="smooth-L1 beta of the refined output's loss (0: L1)")
    g.add_argument("--outlier-weight", type=float, default=0.0,
                   help="weight of a soft 3-px outlier rate in the refined output's loss")
    g.add_argument("--per-frame-loss", action=argparse.BooleanOptionalAction, default=False,
                   help="refined loss averaged per frame, then over frames")
    g.add_argument("--mask-maxdisp", action=argparse.BooleanOptionalAction, default=False,
                   help="ignore ground truth >= --maxdisp (SceneFlow protocol)")
    add_engine_args(parser)
    parser.set_defaults(**defaults)
    return parser


def _build_head(args: argparse.Namespace, log=print) -> TVRefine | None:
    if args.head:
        head = load_head(args.head)
        log(f"head from {args.head}: {head.config}")
        return head.train()
    if args.tv_iters <= 0:
        return None
    scale = args.tv_scale if args.tv_scale == "mean" else float(args.tv_scale)
    return TVRefine(iters=args.tv_iters, method=args.tv_method,
                    connectivity=args.tv_connectivity, symmetric=args.tv_symmetric,
                    guided=args.tv_guided, confidence=args.tv_confidence, scale=scale)


def _datasets(args: argparse.Namespace, seed: int) -> tuple[StereoDataset, StereoDataset]:
    if not args.data:
        raise UserError("--data is required (dataset root or frame list)")
    kw = {"pass_": args.pass_} if args.dataset == "sceneflow" else {}
    crop = tuple(args.crop) if args.crop and any(args.crop) else None
    augment = JointAugment(crop=crop, brightness=args.jitter, contrast=args.jitter,
                           saturation=args.jitter)
    split = lambda kind, s: s if kind in ("kitti2015", "kitti2012", "sceneflow") else "all"  # noqa: E731
    train = build_stereo_dataset(args.dataset, args.data, split(args.dataset, args.train_split),
                                 augment=augment, seed=seed, **kw)
    val_kind = args.val_dataset or args.dataset
    kw = {"pass_": args.pass_} if val_kind == "sceneflow" else {}
    val = build_stereo_dataset(val_kind, args.val_data or args.data,
                               split(val_kind, args.val_split), **kw)
    if args.holdout:
        names = [f.name for f in train.frames]
        if args.holdout not in names:
            raise UserError(f"--holdout {args.holdout!r} is not a training frame; frames: "
                            f"{', '.join(names)}")
        val = StereoDataset([f for f in train.frames if f.name == args.holdout])
        train = StereoDataset([f for f in train.frames if f.name != args.holdout],
                              augment=augment, seed=seed)
    for name, ds in (("training", train), ("validation", val)):
        if not ds.has_gt:
            raise UserError(f"the {name} frames have no ground truth")
    return train, val


def main(args: argparse.Namespace) -> dict[str, float]:
    """Build backbone, head, data and task from ``args`` and run the engine (module docstring)."""
    seed_everything(args.seed)
    if args.cache_dir and not args.freeze_backbone:
        raise UserError("--cache-dir needs --freeze-backbone (cached outputs cannot be trained)")
    head = _build_head(args)
    if head is None and args.freeze_backbone:
        raise UserError("--freeze-backbone with --tv-iters 0 leaves nothing to train")
    EngineConfig.from_args(args)             # a bad engine option fails before the backbone
    backbone = build_backbone(args.backbone, args.weights, args.maxdisp, args.timm_encoder)
    train_set, val_set = _datasets(args, args.seed)
    val_name = args.val_dataset or args.dataset
    if args.best_metric and "/" not in args.best_metric:       # "d1" -> "<val set>/d1"
        args.best_metric = f"{val_name}/{args.best_metric}"
    weights = tuple(args.loss_weights or getattr(backbone, "loss_weights", (1.0,)))
    task = StereoTask(loss_weights=weights, refine_weight=args.refine_weight,
                      refined=head is not None,
                      max_gt_disp=args.maxdisp if args.mask_maxdisp else None,
                      refine_beta=args.refine_beta, per_frame=args.per_frame_loss,
                      outlier_weight=args.outlier_weight)
    if args.cache_dir:
        device = pick_device(args.device)
        backbone = backbone.to(device).eval()
        conf = _has_confidence(backbone)
        key = backbone_cache_key(backbone, args.backbone, args.weights, args.maxdisp,
                                 args.timm_encoder)
        caches = [build_cache(backbone, ds, args.cache_dir, key, conf) for ds in (train_set,
                                                                                 val_set)]
        train_set = CachedBackboneDataset(train_set, caches[0], train_set.augment, args.repeat,
                                          args.seed)
        val_set = CachedBackboneDataset(val_set, caches[1])
        model: nn.Module = head
        del backbone
    else:
        model = backbone if head is None else RefinedStereo(backbone, head,
                                                            args.freeze_backbone)
        train_set = _FreshDraws(train_set)
        if args.repeat > 1:
            train_set = torch.utils.data.ConcatDataset([train_set] * args.repeat)
    start = time.time()
    engine = Engine.from_args(model, task, train_set, {val_name: val_set}, args)
    metrics = engine.run()
    if args.export_head:
        if head is None:
            raise UserError("--export-head needs a head (--tv-iters > 0)")
        cmd = " ".join(["python", *(sys.argv if sys.argv and sys.argv[0] else ["?"])])
        path = save_head(args.export_head, head, backbone=args.backbone,
                         backbone_weights=Path(args.weights).name if args.weights else None,
                         train={"command": cmd, "epochs": engine.epoch, "steps": engine.step,
                                "seconds": round(time.time() - start, 1),
                                "run_dir": str(engine.run_dir)},
                         metrics={k: v for k, v in metrics.items() if math.isfinite(v)})
        print(f"wrote head {path} ({path.stat().st_size} bytes)")
    return metrics
