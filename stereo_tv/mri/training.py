"""Training pieces for CS-MRI: the engine task, the untrained baseline, weight export.

:class:`CSTask` is the :class:`stereo_tv.train.Task` of ``scripts/fmri_cs.py train``: it
simulates the measurement ``x = P F y (+ noise)`` of each clean training image ``y``,
reconstructs it with the model and returns the mean squared error (paper eq. 4 up to a
constant). Validation reports the mean PSNR of the reconstruction and of zero-filling
(``val/psnr``, ``val/psnr_zero_filled``; [0, 1] images, peak 1, clipped reconstruction).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from stereo_tv.cli import atomic_path
from stereo_tv.mri.data import psnr
from stereo_tv.mri.operator import MaskedFourier
from stereo_tv.mri.pretrained import export_weights, load_weights
from stereo_tv.train import Task, load_checkpoint

__all__ = ["CSTask", "untrained_validation", "run_metadata", "export_run"]


class CSTask(Task):
    """Simulate ``x = P F y (+ noise)`` from a clean image, reconstruct, MSE to the image.

    Args:
        mask: bool ``(H, W)`` sampling mask (unshifted layout).
        sigma: std of the complex k-space noise (0: noiseless, as in the paper).
        seed: seed of the validation noise (the same measurements every epoch).
    """

    def __init__(self, mask: torch.Tensor, sigma: float = 0.0, seed: int = 0):
        self.operator = MaskedFourier(mask)
        self.sigma = sigma
        self.seed = seed

    def _op(self, device: torch.device) -> MaskedFourier:
        if self.operator.mask.device != device:
            self.operator = self.operator.to(device)
        return self.operator

    def training_step(self, model: nn.Module, batch: dict):
        image = batch["image"]
        op = self._op(image.device)
        recon = model(op.measure(image, sigma=self.sigma))
        loss = F.mse_loss(recon, image)
        return loss, {"psnr": psnr(recon.detach().clamp(0, 1), image).mean()}

    def validate(self, model: nn.Module, loader) -> dict[str, float]:
        values, zero = [], []
        generator = None
        for batch in loader:
            image = batch["image"]
            op = self._op(image.device)
            if generator is None:
                generator = torch.Generator(device=image.device).manual_seed(self.seed)
            x = op.measure(image, sigma=self.sigma, generator=generator)
            values += psnr(model(x).clamp(0, 1), image).tolist()
            zero += psnr(op.adjoint(x).clamp(0, 1), image).tolist()
        return {"psnr": float(np.mean(values)), "psnr_zero_filled": float(np.mean(zero))}

    def log_images(self, writer, model: nn.Module, batch: dict, step: int) -> None:
        image = batch["image"][:1]
        op = self._op(image.device)
        x = op.measure(image, sigma=self.sigma)
        panel = torch.cat([op.adjoint(x), model(x), image], dim=-1).clamp(0, 1)
        writer.add_image("val/zero_filled|recon|truth", panel[0], step)


@torch.inference_mode()
def untrained_validation(run_dir: str | os.PathLike, model: nn.Module, task: CSTask,
                         val_set) -> dict[str, float]:
    """Validation metrics of ``model`` before training, kept in ``run_dir/untrained_val.json``.

    Computed once per run directory (read back afterwards), so exported weights can state
    what training added.
    """
    path = Path(run_dir) / "untrained_val.json"
    if path.is_file():
        return json.loads(path.read_text())
    device = next(model.parameters()).device
    was_training = model.training
    batches = ({"image": item["image"][None].to(device)} for item in val_set)
    metrics = {f"val/{k}": v for k, v in task.validate(model.eval(), batches).items()}
    model.train(was_training)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics) + "\n")
    return metrics


def run_metadata(run_dir: str | os.PathLike, epoch: int | None = None) -> dict:
    """Command, training seconds up to ``epoch`` (validation excluded) and val PSNRs of a run.

    For a run warm-started with ``--init-from FILE``, ``warm_start`` repeats that file's record
    and ``train_seconds_total`` adds its training seconds.
    """
    run_dir = Path(run_dir)
    meta: dict = {"run_dir": str(run_dir)}
    if (run_dir / "argv.txt").is_file():
        meta["command"] = (run_dir / "argv.txt").read_text().strip()
    log = run_dir / "metrics.jsonl"
    if log.is_file():
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        seconds = {r["epoch"]: r.get("seconds", 0.0) for r in rows if r.get("event") == "train"}
        meta["train_seconds"] = round(sum(v for e, v in seconds.items()
                                          if epoch is None or e <= epoch), 1)
        val = [r for r in rows if r.get("event") == "val" and "val/psnr" in r]
        if val:
            at = [r for r in val if r["epoch"] == epoch] or val[-1:]
            meta["val_psnr"] = round(at[-1]["val/psnr"], 3)
            meta["val_psnr_zero_filled"] = round(at[-1].get("val/psnr_zero_filled", math.nan), 3)
    if (run_dir / "untrained_val.json").is_file():
        meta["val_psnr_untrained"] = json.loads((run_dir / "untrained_val.json").read_text())
    config = run_dir / "config.yaml"
    source = yaml.safe_load(config.read_text()).get("init_from") if config.is_file() else None
    if source and Path(source).is_file():       # warm start: keep the first stage's record
        first = load_weights(source).meta
        meta["warm_start"] = {k: first.get(k) for k in ("path", "command", "train_seconds",
                                                         "val_psnr", "epoch")}
        meta["train_seconds_total"] = round(meta.get("train_seconds", 0.0)
                                            + (first.get("train_seconds_total")
                                               or first.get("train_seconds") or 0.0), 1)
    return meta


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, which: str = "best") -> Path:
    """Export ``run_dir/checkpoints/{which}.pt`` as a small weight file with its metadata."""
    run_dir = Path(run_dir)
    path = run_dir / "checkpoints" / f"{which}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no {which}.pt in {run_dir / 'checkpoints'}")
    model = load_weights(path)
    epoch = int(load_checkpoint(path).get("epoch", 0))
    meta = {**run_metadata(run_dir, epoch), "epoch": epoch, "checkpoint": which,
            "exported": time.strftime("%Y-%m-%d %H:%M:%S")}
    return export_weights(model, out, rate=model.meta["rate"], meta=meta)
