"""The training engine: Adam, step decay, backtracking, AMP, DDP, checkpoints and logs.

One epoch of :meth:`Engine.fit` is::

    for batch in train_loader:                       # DistributedSampler, seeded workers
        loss, logs = task.training_step(model, batch)    # under autocast when --amp
        (scaled) loss.backward(); clip; optimizer.step(); --ema: update the weight average
    backtracker.update(epoch, mean loss)             # restore + lr x 0.8 on divergence
    every --val-every epochs: task.validate(...) -> best.pt by --best-metric
    every --log-images-every epochs: task.log_images(...), solver histograms
    scheduler.step(); save checkpoints/last.pt (atomically)

With ``--ema DECAY`` the engine keeps an exponential moving average of the weights
(``torch.optim.swa_utils.AveragedModel``, updated after every step; buffers are copied, not
averaged). Validation, ``best.pt`` and the ``"model"`` entry of every checkpoint are the
averaged weights, so exports and ``load_model_weights`` take them unchanged; the trained
weights travel as ``"train_model"`` for ``--resume``. A backtracking restore restarts the
average from the restored weights.

SIGINT/SIGTERM make the engine finish the current step, save ``last.pt`` (with the position
inside the epoch) and raise :class:`TrainingInterrupted`; ``--resume`` continues from there. A
SIGKILL loses at most the epoch in progress.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from stereo_tv.cli import UserError
from stereo_tv.config import namespace_to_dict, save_config
from stereo_tv.train._args import EngineConfig
from stereo_tv.train._backtrack import Backtracker
from stereo_tv.train._checkpoint import (
    get_rng_state,
    load_checkpoint,
    load_state_into,
    resume_path,
    run_directory,
    save_checkpoint,
    set_rng_state,
)
from stereo_tv.train._data import (
    DeviceLoader,
    SkipSampler,
    batch_len,
    derive_seed,
    seed_everything,
    seed_worker,
    to_device,
)
from stereo_tv.train._distributed import init_distributed
from stereo_tv.train._runlog import RunLog
from stereo_tv.train._schedule import build_scheduler
from stereo_tv.train._task import Task

__all__ = ["Engine", "TrainingInterrupted", "seed_everything"]

_CHECKPOINT_VERSION = 1
_REQUIRED = ("model", "optimizer", "scheduler", "epoch", "step")


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped training after the checkpoint was saved."""


def _plain_config(values: dict[str, Any]) -> dict[str, Any]:
    """YAML- and ``weights_only``-safe copy: anything exotic becomes its string."""
    def plain(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return str(v)
    return {str(k): plain(v) for k, v in namespace_to_dict(values).items()}


class Engine:
    """Trains ``model`` on ``task`` and keeps the run directory ``runs/<name>/``.

    Args:
        model: the model; the engine moves it to its device (``cuda:LOCAL_RANK`` under DDP).
        task: a :class:`Task` (``training_step``, ``validate``, optional hooks).
        train_set: a map-style ``Dataset`` of training samples.
        val_set: ``None``, a ``Dataset``, or a dict ``name -> Dataset`` (one ``validate`` call
            each; keys without ``/`` are prefixed with ``<name>/``).
        config: the engine options (:class:`EngineConfig`).
        hparams: the script's full resolved options, saved as ``config.yaml`` and in every
            checkpoint (default: ``config``).
        collate_fn: ``DataLoader`` collate function for both loaders (default: PyTorch's).
        find_unused_parameters: passed to ``DistributedDataParallel`` (set it when some
            parameters get no gradient in a step).

    Building the engine reseeds python, numpy and torch from ``config.seed`` and the rank
    (call :func:`seed_everything` yourself before building the model, for a seeded init).

    Under ``torchrun`` every process builds the same Engine; only rank 0 logs and writes
    files. Validation runs the whole validation set on every rank (no sharding), so all ranks
    agree on the metrics.
    """

    def __init__(self, model: nn.Module, task: Task, train_set: Dataset | None,
                 val_set: Dataset | Mapping[str, Dataset] | None = None, *,
                 config: EngineConfig, hparams: argparse.Namespace | dict | None = None,
                 collate_fn: Callable | None = None, find_unused_parameters: bool = False):
        config.check()
        self.config = config
        self.task = task
        self.env = init_distributed(config.device)
        self.device = self.env.device
        self.run_dir = run_directory(config.run_dir, config.name)
        self.hparams = _plain_config(hparams if hparams is not None else asdict(config))
        self.model = model.to(self.device)
        self.train_set = train_set
        if val_set is None:
            self.val_sets: dict[str | None, Dataset] = {}
        elif isinstance(val_set, Mapping):
            self.val_sets = dict(val_set)
        else:
            self.val_sets = {None: val_set}
        self.collate_fn = collate_fn

        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self.scheduler = None
        if self.params:
            groups = task.param_groups(self.model, config.lr) if hasattr(
                task, "param_groups") else None
            self.optimizer = torch.optim.Adam(self.params if groups is None else groups,
                                              lr=config.lr, eps=config.adam_eps,
                                              weight_decay=config.weight_decay)
            self.scheduler = build_scheduler(self.optimizer, config.lr_schedule,
                                             every=config.lr_every,
                                             milestones=config.lr_milestones,
                                             gamma=config.lr_gamma)
        cuda = self.device.type == "cuda"
        self.amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(config.amp)
        if not cuda:
            self.amp_dtype = None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cuda and config.amp == "fp16")
        self.backtracker = Backtracker(config.backtrack_every, config.backtrack_factor,
                                       config.backtrack_lr_decay)
        self.ema: AveragedModel | None = None
        if config.ema and self.params:
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(config.ema))
        self.train_model: nn.Module = self.model
        if self.env.distributed and self.params:
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if cuda else None,
                find_unused_parameters=find_unused_parameters)

        self.epoch = 0              # epochs completed
        self.step = 0               # optimizer steps
        self.batch_in_epoch = 0     # batches done in the epoch in progress (after SIGTERM)
        self._partial: dict[str, float] | None = None  # its running sums
        self.best = {"metric": config.best_metric, "mode": config.best_mode,
                     "value": None, "epoch": None}
        self.last_metrics: dict[str, float] = {}
        self._stop: str | None = None
        self.log = RunLog(self.run_dir, enabled=self.env.is_main)
        seed_everything(derive_seed(config.seed, self.env.rank, 1))
        if config.amp != "none" and not cuda:
            self.log.print(f"note: --amp {config.amp} is a no-op on {self.device}")

    @classmethod
    def from_args(cls, model: nn.Module, task: Task, train_set: Dataset | None,
                  val_set: Dataset | Mapping[str, Dataset] | None,
                  args: argparse.Namespace, collate_fn: Callable | None = None) -> Engine:
        """``Engine(..., config=EngineConfig.from_args(args), hparams=args)``."""
        return cls(model, task, train_set, val_set, config=EngineConfig.from_args(args),
                   hparams=args, collate_fn=collate_fn)

    # ------------------------------------------------------------------ entry points
    def run(self) -> dict[str, float]:
        """:meth:`evaluate` with ``--eval-only``, else :meth:`fit`; then release the group."""
        try:
            return self.evaluate() if self.config.eval_only else self.fit()
        finally:
            self.close()

    def fit(self) -> dict[str, float]:
        """Train to ``--epochs``; return the last validation metrics (``{}`` if none)."""
        if self.optimizer is None:
            raise UserError("the model has no trainable parameters; use --eval-only")
        if self.train_set is None or len(self.train_set) == 0:
            raise UserError("the training set is empty")
        fresh = self._resume_path() is None
        self._start_training()
        if self.epoch >= self.config.epochs and not fresh:
            self.log.print(f"already trained for {self.epoch} epochs (--epochs "
                           f"{self.config.epochs}); nothing to do")
        if self.config.best_metric and not self.val_sets:
            self.log.print(f"note: --best-metric {self.config.best_metric} but no validation "
                           "set; no best.pt will be written")
        if self.config.val_start and fresh:
            self._validate_start()
        loader, sampler, generator = self._train_loader()
        with self._signal_handlers():
            try:
                while self.epoch < self.config.epochs:
                    t0 = time.time()
                    sums = self._train_one_epoch(loader, sampler, generator)
                    self._end_epoch(sums, time.time() - t0)
            finally:
                self.log.close()
        return self.last_metrics

    def evaluate(self) -> dict[str, float]:
        """Validate the model from ``--resume PATH``, else ``best.pt``, else ``last.pt``."""
        path = self._resume_path()
        if path is None:
            ckpts = self.run_dir / "checkpoints"
            path = next((p for p in (ckpts / "best.pt", ckpts / "last.pt") if p.is_file()), None)
        if path is None:
            self.log.print(f"no checkpoint in {self.run_dir}; evaluating the model as built")
        else:
            state = load_checkpoint(path)
            load_state_into(self.eval_model, state, path)
            self.epoch = int(state.get("epoch", 0))
            self.log.print(f"evaluating {path} (epoch {self.epoch})")
        metrics = self._validate()
        self.log.print("eval: " + _fmt(metrics))
        self.log.record("eval", epoch=self.epoch, checkpoint=str(path), **metrics)
        return metrics

    def close(self) -> None:
        """Close the logs and leave the process group (if the engine joined one)."""
        self.log.close()
        if self.env.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    # ------------------------------------------------------------------ training
    def _train_loader(self) -> tuple[DataLoader, SkipSampler, torch.Generator]:
        cfg, env = self.config, self.env
        sampler = SkipSampler(DistributedSampler(
            self.train_set, num_replicas=env.world_size, rank=env.rank, shuffle=True,
            seed=cfg.seed, drop_last=False))
        generator = torch.Generator()
        loader = DataLoader(self.train_set, batch_size=cfg.batch_size, sampler=sampler,
                            num_workers=cfg.workers, collate_fn=self.collate_fn,
                            pin_memory=self.device.type == "cuda", drop_last=False,
                            worker_init_fn=seed_worker, generator=generator)
        return loader, sampler, generator

    def _train_one_epoch(self, loader: DataLoader, sampler: SkipSampler,
                         generator: torch.Generator) -> dict[str, float]:
        cfg, e = self.config, self.epoch
        start = self.batch_in_epoch
        sampler.set_epoch(e, skip=start * cfg.batch_size)
        if callable(getattr(self.train_set, "set_epoch", None)):
            self.train_set.set_epoch(e)          # datasets that key their augmentation by epoch
        generator.manual_seed(derive_seed(cfg.seed, self.env.rank, e, start))
        n_steps = start + len(loader)
        if cfg.max_steps_per_epoch:
            n_steps = min(n_steps, cfg.max_steps_per_epoch)
        sums = {k: torch.tensor(v, dtype=torch.float64, device=self.device)
                for k, v in (self._partial or {}).items()}
        self.model.train()
        bar = tqdm(total=n_steps, initial=start, desc=f"epoch {e + 1}/{cfg.epochs}",
                   disable=not (self.env.is_main and sys.stderr.isatty()), leave=False,
                   dynamic_ncols=True)
        t0, seen = time.time(), 0
        for i, batch in zip(range(start, n_steps), loader):
            batch = to_device(batch, self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype,
                                enabled=self.amp_dtype is not None):
                loss, logs = self.task.training_step(self.train_model, batch)
            if not (isinstance(loss, torch.Tensor) and loss.dim() == 0):
                raise TypeError("training_step must return (0-dim loss tensor, dict), got loss "
                                f"{type(loss).__name__} {getattr(loss, 'shape', '')}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.clip_grad > 0:
                self.scaler.unscale_(self.optimizer)
                logs = {**logs, "grad_norm": torch.nn.utils.clip_grad_norm_(
                    self.params, cfg.clip_grad)}
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            self.batch_in_epoch = i + 1
            self._update_ema()
            for key, value in {"loss": loss, **logs}.items():
                value = torch.as_tensor(value).detach().to(self.device, torch.float64)
                sums[key] = sums.get(key, 0.0) + value
            n = batch_len(batch)
            seen += n
            sums["samples"] = sums.get("samples", 0.0) + n
            sums["batches"] = sums.get("batches", 0.0) + 1
            bar.update(1)
            if not bar.disable and (i % 10 == 0 or i + 1 == n_steps):
                rate = seen * self.env.world_size / max(time.time() - t0, 1e-9)
                bar.set_postfix(loss=f"{(sums['loss'] / sums['batches']).item():.4g}",
                                lr=f"{self.lr:.3g}", samples_s=f"{rate:.1f}")
            if self.env.any(self._stop is not None):
                bar.close()
                # the epoch's seconds so far (a mean over ranks), so the resumed epoch reports
                # its whole time and rate rather than the rate of its last segment
                sums["seconds"] = (sums.get("seconds", 0.0)
                                   + (time.time() - t0) / self.env.world_size)
                keys = list(sums)  # the same keys, in the same order, on every rank
                self._partial = dict(zip(keys, self.env.all_reduce_sum(
                    [float(sums[k]) for k in keys])))  # global sums; rank 0 resumes them
                self._interrupt()
        bar.close()
        totals = self.env.all_reduce_sum([float(v) for v in sums.values()])
        return dict(zip(sums.keys(), totals))

    def _end_epoch(self, sums: dict[str, float], seconds: float) -> None:
        cfg, e = self.config, self.epoch
        n = max(sums.pop("batches", 0.0), 1.0)
        samples = sums.pop("samples", 0.0)
        seconds += sums.pop("seconds", 0.0)  # segments before a SIGTERM, if resumed
        means = {k: v / n for k, v in sums.items()}  # per-batch means over all ranks
        loss = means.get("loss", math.nan)
        rate = samples / max(seconds, 1e-9)
        lr = self.lr
        self.log.print(f"epoch {e + 1}/{cfg.epochs}  loss {loss:.5g}  lr {lr:.3g}  "
                       f"{rate:.1f} samples/s  {seconds:.1f}s")
        self.log.record("train", epoch=e + 1, step=self.step, lr=lr, samples_per_s=rate,
                        seconds=seconds, **{f"train/{k}": v for k, v in means.items()})
        self.log.scalars({**means, "lr": lr, "samples_per_s": rate}, self.step, "train/")

        event = self.backtracker.update(e, loss, self.model, self.optimizer)
        if event is not None:
            self.scheduler.scale_lr(event["lr_decay"])
            self._restart_ema()
            ref = event["ref_loss"]
            self.log.print(f"backtrack at epoch {e + 1}: loss {loss:.5g} vs accepted "
                           f"{'none' if ref is None else format(ref, '.5g')}; snapshot restored, "
                           f"lr {lr:.3g} -> {self.lr:.3g}")
            self.log.record("backtrack", step=self.step, lr=self.lr, lr_before=lr, **event)
            self.log.scalars({"loss": loss, "lr": self.lr}, self.step, "backtrack/")

        epochs_done = e + 1
        val_due = cfg.val_every and (epochs_done % cfg.val_every == 0
                                     or epochs_done == cfg.epochs)
        improved = False
        if self.val_sets and val_due:
            self.last_metrics = metrics = self._validate()
            self.log.print(f"val epoch {epochs_done}: " + _fmt(metrics))
            self.log.record("val", epoch=epochs_done, step=self.step, **metrics)
            self.log.scalars(metrics, self.step, "val/")
            improved = self._update_best(metrics, epochs_done)
        if cfg.log_images_every and epochs_done % cfg.log_images_every == 0:
            self._log_images_and_histograms()
        self.log.flush()

        self.scheduler.step()
        self.epoch, self.batch_in_epoch, self._partial = epochs_done, 0, None
        path = self._save("last.pt")
        if improved:
            self._save("best.pt")
        if self.env.any(self._stop is not None):
            self._interrupt(path)

    def _validate_start(self) -> None:
        """``--val-start``: validate the weights the run starts from as epoch 0 and save them
        (``last.pt``, and ``best.pt`` when there is a best metric). The random state is kept,
        so the training that follows is the one without the flag."""
        if not self.val_sets:
            raise UserError("--val-start needs a validation set")
        rng = get_rng_state()
        self.last_metrics = metrics = self._validate()
        set_rng_state(rng)
        self.log.print("val epoch 0 (start): " + _fmt(metrics))
        self.log.record("val", epoch=0, step=self.step, **metrics)
        self.log.scalars(metrics, self.step, "val/")
        improved = self._update_best(metrics, 0)
        self.log.flush()
        self._save("last.pt")
        if improved:
            self._save("best.pt")

    def _update_best(self, metrics: dict[str, float], epoch: int) -> bool:
        key = self.best["metric"]
        if key is None:
            return False
        if key not in metrics:
            raise UserError(f"--best-metric '{key}' is not among the validation metrics: "
                            f"{', '.join(sorted(metrics))}")
        value, old = metrics[key], self.best["value"]
        better = old is None or (value < old if self.best["mode"] == "min" else value > old)
        if better and math.isfinite(value):
            self.best.update(value=value, epoch=epoch)
            self.log.print(f"new best {key} = {value:.5g} at epoch {epoch}")
            return True
        return False

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are validated and saved as ``"model"``: the moving average with
        ``--ema``, else the trained model itself."""
        return self.model if self.ema is None else self.ema.module

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        self.ema.update_parameters(self.model)
        for mine, theirs in zip(self.ema.module.buffers(), self.model.buffers()):
            mine.copy_(theirs)

    @torch.no_grad()
    def _restart_ema(self, average: dict[str, Any] | None = None, steps: int = 0) -> None:
        """Set the average to ``average`` (a state dict) over ``steps`` steps, or restart it
        from the trained weights."""
        if self.ema is None:
            return
        self.ema.module.load_state_dict(self.model.state_dict() if average is None else average)
        self.ema.n_averaged.fill_(max(int(steps), 1 if average is None else 0))

    @property
    def lr(self) -> float:
        """The global learning rate now: ``--lr`` times the schedule's and backtracking's
        factor (with several parameter groups, group ``i`` runs at its base rate times the same
        factor)."""
        group = self.optimizer.param_groups[0]
        base = group.get("initial_lr") or self.config.lr
        return self.config.lr * group["lr"] / base if base else group["lr"]

    # ------------------------------------------------------------------ validation, images
    def _val_loader(self, dataset: Dataset, workers: int) -> DataLoader:
        return DataLoader(dataset, batch_size=self.config.val_batch_size, shuffle=False,
                          num_workers=workers, collate_fn=self.collate_fn,
                          pin_memory=self.device.type == "cuda", worker_init_fn=seed_worker)

    @torch.inference_mode()
    def _validate(self) -> dict[str, float]:
        model = self.eval_model
        was_training = model.training
        model.eval()
        metrics: dict[str, float] = {}
        for name, dataset in self.val_sets.items():
            loader = DeviceLoader(self._val_loader(dataset, self.config.workers), self.device)
            for key, value in self.task.validate(model, loader).items():
                full = key if name is None or "/" in key else f"{name}/{key}"
                metrics[full] = float(value)
        model.train(was_training)
        return metrics

    @torch.inference_mode()
    def _log_images_and_histograms(self) -> None:
        if not self.env.is_main:
            return
        model = self.eval_model
        quantities = getattr(self.task, "solver_quantities", None)
        quantities = quantities(model) if quantities else Task.solver_quantities(self.task, model)
        self.log.histograms(quantities, self.step)
        hook = getattr(self.task, "log_images", None)
        dataset = next(iter(self.val_sets.values()), self.train_set)
        if hook is None or dataset is None:
            return
        was_training = model.training
        model.eval()
        batch = to_device(next(iter(self._val_loader(dataset, 0))), self.device)
        hook(self.log.writer, model, batch, self.step)
        model.train(was_training)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        rng = self.env.gather(get_rng_state())  # collective: every rank calls it
        return {
            "version": _CHECKPOINT_VERSION,
            "model": self.eval_model.state_dict(),
            **({} if self.ema is None else {"train_model": self.model.state_dict(),
                                            "ema_steps": int(self.ema.n_averaged)}),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "backtrack": self.backtracker.state_dict(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "partial": self._partial,
            "step": self.step,
            "best": dict(self.best),
            "config": self.hparams,
            "world_size": self.env.world_size,
            "rng": rng,
        }

    def _save(self, name: str) -> Path:
        state = self._state()
        path = self.run_dir / "checkpoints" / name
        if self.env.is_main:
            save_checkpoint(path, state)
        self.env.barrier()
        return path

    def _interrupt(self, path: Path | None = None) -> None:
        if path is None:
            path = self._save("last.pt")
        self.log.print(f"{self._stop or 'stop'}: saved {path} (epoch {self.epoch}, "
                       f"batch {self.batch_in_epoch}); continue with --resume")
        self.log.record("interrupt", epoch=self.epoch, step=self.step,
                        batch_in_epoch=self.batch_in_epoch, signal=self._stop)
        self.log.close()
        raise TrainingInterrupted(f"interrupted by {self._stop}; checkpoint {path}")

    def _resume_path(self) -> Path | None:
        return resume_path(self.run_dir, self.config.resume)

    def _start_training(self) -> None:
        path = self._resume_path()
        last = self.run_dir / "checkpoints" / "last.pt"
        if path is None and last.is_file():
            raise UserError(f"{self.run_dir} already holds {last.name}; pass --resume to continue "
                            "or choose another --name")
        if path is not None:
            self._load_state(load_checkpoint(path), path)
            self.log.purge_step = self.step
            self.log.truncate(self.epoch)
        if self.env.is_main:
            save_config(self.run_dir, self.hparams)
        n_params = sum(p.numel() for p in self.params)
        vals = "".join(f", {len(ds)} validation samples" + (f" ({name})" if name else "")
                       for name, ds in self.val_sets.items() if hasattr(ds, "__len__"))
        self.log.print(f"run {self.run_dir}: {n_params} trainable parameters, device "
                       f"{self.device}, {self.env.world_size} process(es), "
                       f"{len(self.train_set)} training samples{vals}"
                       + (f", resumed from {path} at epoch {self.epoch}" if path else ""))
        if self.backtracker.enabled and self.backtracker.snapshot is None:
            self.backtracker.take_snapshot(self.model, self.optimizer)

    def _load_state(self, state: dict[str, Any], path: Path) -> None:
        missing = [k for k in _REQUIRED if k not in state]
        if missing:
            raise UserError(f"checkpoint {path} is not an engine checkpoint (missing "
                            f"{', '.join(missing)}); use load_model_weights for bare weights")
        try:
            self.model.load_state_dict(state.get("train_model", state["model"]))
            if "train_model" in state:   # an --ema run: "model" is its average
                self._restart_ema(state["model"], state.get("ema_steps", 0))
            else:                        # (with --ema) start the average here
                self._restart_ema()
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            if state.get("backtrack") is not None:
                self.backtracker.load_state_dict(state["backtrack"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0][:300]
            raise UserError(f"checkpoint {path} does not fit this model/options: {first}") from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batch_in_epoch = int(state.get("batch_in_epoch", 0))
        self._partial = state.get("partial") if self.env.is_main else None
        self.best.update({k: v for k, v in (state.get("best") or {}).items()
                          if k in ("value", "epoch")})
        rng, world = state.get("rng") or [], int(state.get("world_size", 1))
        if world == self.env.world_size and self.env.rank < len(rng):
            set_rng_state(rng[self.env.rank])
        else:
            seed_everything(derive_seed(self.config.seed, self.env.rank, self.epoch, 2))
            if self.batch_in_epoch:
                self.log.print(f"note: {path} was written by {world} process(es); "
                               f"restarting epoch {self.epoch + 1} from its first batch")
                self.batch_in_epoch, self._partial = 0, None
        changed = {k: (v, self.hparams.get(k)) for k, v in (state.get("config") or {}).items()
                   if k not in ("resume", "eval_only") and self.hparams.get(k) != v}
        if changed:
            self.log.print("note: options differ from the checkpoint's: " + ", ".join(
                f"{k} {old!r} -> {new!r}" for k, (old, new) in sorted(changed.items())))

    @contextlib.contextmanager
    def _signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # second Ctrl-C: stop now, without saving
            self._stop = signal.Signals(signum).name
            self.log.print(f"{self._stop} received: saving a checkpoint after this step "
                           "(Ctrl-C again to abort without saving)")

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.5g}" for k, v in metrics.items()) or "(no metrics)"
