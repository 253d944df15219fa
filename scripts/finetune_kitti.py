"""Fine-tune a stereo network with the TV refinement head on KITTI 2015 (PSMNet's recipe).

    python scripts/finetune_kitti.py --data KITTI2015_ROOT --weights PSMNET_SCENEFLOW.tar
                                     [--tv-iters 24] [--tv-method extragrad|gd] [--tv-guided]
                                     [--config configs/stereo/psmnet_kitti2015.yaml]
    # CPU route: frozen backbone, cached outputs, only the head trains
    python scripts/finetune_kitti.py --config configs/stereo/head_shared.yaml \
                                     --freeze-backbone --cache-dir cache/

Defaults follow PSMNet's KITTI recipe: Adam (0.9, 0.999), lr 1e-3 then 1e-4 after epoch 200 of
300, batch 12, random 256x512 crops, smooth-L1 0.5 / 0.7 / 1.0 on the backbone's outputs plus
``--refine-weight`` on the refined one, KITTI 2015 frames 0-159 for training and 160-199 for
validation (D1, 3-px error). The engine (``stereo_tv.train``) adds TensorBoard, ``--resume``,
DDP (``torchrun``) and ``--amp``; see ``stereo_tv.stereo_train`` for every option.
"""

from __future__ import annotations

import argparse

from stereo_tv.cli import run_cli
from stereo_tv.stereo_train import add_stereo_args
from stereo_tv.stereo_train import main as train_stereo

RECIPE = dict(name="finetune_kitti", dataset="kitti2015", train_split="train", val_split="val",
              crop=[256, 512], epochs=300, batch_size=12, lr=1e-3, lr_schedule="psmnet",
              lr_milestones=[200], lr_gamma=0.1, backtrack_every=0, best_metric="d1",
              best_mode="min", log_images_every=10)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    return add_stereo_args(p, **RECIPE)


def main(args: argparse.Namespace) -> int:
    train_stereo(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
