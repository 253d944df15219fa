"""Pre-train a stereo network (optionally with the TV head) on SceneFlow (PSMNet's recipe).

    python scripts/train_sceneflow.py --data SCENEFLOW_ROOT [--tv-iters 24] [--backbone psmnet]
                                      [--config configs/stereo/psmnet_sceneflow.yaml]

Defaults: Adam (0.9, 0.999), constant lr 1e-3 for 10 epochs, batch 12, random 256x512 crops,
ground truth at or above ``--maxdisp`` (192) ignored, FlyingThings3D / Driving / Monkaa
``TRAIN`` for training and FlyingThings3D ``TEST`` for validation (EPE, 3-px error). Same options
and engine as ``scripts/finetune_kitti.py``.
"""

from __future__ import annotations

import argparse

from stereo_tv.cli import run_cli
from stereo_tv.stereo_train import add_stereo_args
from stereo_tv.stereo_train import main as train_stereo

RECIPE = dict(name="train_sceneflow", dataset="sceneflow", train_split="train", val_split="val",
              crop=[256, 512], epochs=10, batch_size=12, lr=1e-3, lr_schedule="constant",
              mask_maxdisp=True, backtrack_every=0, best_metric="epe",
              best_mode="min", log_images_every=1)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    return add_stereo_args(p, **RECIPE)


def main(args: argparse.Namespace) -> int:
    train_stereo(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
