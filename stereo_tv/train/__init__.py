"""The one training engine shared by the denoising, MRI and stereo scripts.

A training script is thin: it declares its options, builds a model, a :class:`Task` and the
datasets, and hands them to :class:`Engine`::

    import argparse
    from stereo_tv.cli import run_cli
    from stereo_tv.train import Engine, Task, add_engine_args, seed_everything

    def get_args_parser():
        p = argparse.ArgumentParser(description="train a TV denoiser")
        p.add_argument("--sigma", type=float, default=25.0)      # task options ...
        return add_engine_args(p)                                 # ... + engine options

    def main(args):
        seed_everything(args.seed)               # before building the model: same init
        model = build_model(args)
        engine = Engine.from_args(model, DenoiseTask(args.sigma), train_set,
                                  {"set12": set12, "bsd68": bsd68}, args)
        engine.run()                             # fit(), or evaluate() with --eval-only

    if __name__ == "__main__":
        raise SystemExit(run_cli(main, get_args_parser()))

The same script runs on one device (``python train.py --config c.yaml``) and under DDP
(``torchrun --nproc_per_node=N train.py --config c.yaml``); see :class:`Engine`.

Public API:
    add_engine_args(parser) -> parser
        The shared options (``--name``, ``--run-dir``, ``--epochs``, ``--batch-size``,
        ``--lr``, ``--lr-schedule {paper,psmnet,constant}``, ``--clip-grad``, ``--ema``,
        ``--amp {none,fp16,bf16}``, ``--device``, ``--workers``, ``--seed``, ``--resume``,
        ``--val-every``, ``--best-metric``, ``--best-mode``, ``--backtrack-*``,
        ``--log-images-every``, ``--eval-only``, ``--max-steps-per-epoch``, ...).
    Task
        Protocol/base class: ``training_step(model, batch) -> (loss, logs)``,
        ``validate(model, loader) -> {"set12/psnr": ...}``, optional
        ``log_images(writer, model, batch, step)`` and ``solver_quantities(model)``.
    EngineConfig
        Dataclass of the engine options (``EngineConfig.from_args(args)``).
    Engine(model, task, train_set, val_set=None, *, config, hparams=None, collate_fn=None,
           find_unused_parameters=False)
        ``.fit() -> dict`` (last validation metrics), ``.evaluate() -> dict``,
        ``.run()`` (one of the two, by ``--eval-only``), ``Engine.from_args(...)``.
        Attributes: ``run_dir``, ``device``, ``model``, ``eval_model`` (the ``--ema``
        average, else ``model``), ``optimizer``, ``scheduler``,
        ``epoch`` (epochs completed), ``step`` (optimizer steps), ``best``.
    TrainingInterrupted
        Raised by ``fit()`` after SIGINT/SIGTERM once the checkpoint is saved; a subclass of
        ``KeyboardInterrupt``, so ``run_cli`` prints ``interrupted`` and exits 130.
    seed_everything(seed)
        Seed python, numpy and torch (CPU and CUDA).
    load_model_weights(model, path, strict=True) -> model
        Load weights from a run checkpoint (``{"model": ...}``) or a bare state dict, with
        one-line :class:`stereo_tv.cli.UserError` messages naming the file.
    load_checkpoint(path) -> dict / save_checkpoint(path, state)
        Read (``map_location="cpu"``) or atomically write an engine checkpoint.
    run_directory(run_dir, name) -> Path / resume_path(run_dir, resume) -> Path | None
        A run's folder (``--run-dir``, else ``runs/<name>``) and the checkpoint ``--resume``
        names.
    resumed_config(run_dir, name, resume) -> (Path, dict) | None / check_resumed(path, rec, now)
        The options a resumed run's checkpoint recorded, and a one-line error when today's
        model-defining options differ from them.
    StepDecayLR, build_scheduler(optimizer, name, ...), SCHEDULES
        The per-epoch step-decay schedules.
    Backtracker(every, factor, lr_decay)
        The divergence monitor of paper Sec. 3.3 / App. B.
    DistEnv, init_distributed(device)
        torchrun detection (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``) and device choice.

Run directory ``runs/<name>/``: ``config.yaml`` (resolved options), ``argv.txt``,
``checkpoints/last.pt`` (end of every epoch, and on SIGINT/SIGTERM), ``checkpoints/best.pt``
(best ``--best-metric``), ``tb/`` (TensorBoard) and ``metrics.jsonl`` (one JSON object per
line; ``"event"`` is ``train``, ``val``, ``backtrack``, ``eval`` or ``interrupt``).
"""

from stereo_tv.train._args import add_engine_args
from stereo_tv.train._backtrack import Backtracker
from stereo_tv.train._checkpoint import (
    check_resumed,
    load_checkpoint,
    load_model_weights,
    resume_path,
    resumed_config,
    run_directory,
    save_checkpoint,
)
from stereo_tv.train._distributed import DistEnv, init_distributed
from stereo_tv.train._engine import Engine, EngineConfig, TrainingInterrupted, seed_everything
from stereo_tv.train._schedule import SCHEDULES, StepDecayLR, build_scheduler
from stereo_tv.train._task import Task

__all__ = [
    "add_engine_args",
    "Task",
    "Engine",
    "EngineConfig",
    "TrainingInterrupted",
    "seed_everything",
    "load_model_weights",
    "load_checkpoint",
    "save_checkpoint",
    "run_directory",
    "resume_path",
    "resumed_config",
    "check_resumed",
    "StepDecayLR",
    "build_scheduler",
    "SCHEDULES",
    "Backtracker",
    "DistEnv",
    "init_distributed",
]
