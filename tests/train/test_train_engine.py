"""The engine end to end on a tiny CPU model: determinism, resume after kills, logs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from _engine_tiny import REPO, SMOKE, run_inprocess

from stereo_tv.train import load_checkpoint

TINY = Path(__file__).with_name("_engine_tiny.py")


def _records(run_dir: Path, event: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def _losses(run_dir: Path) -> list[float]:
    return [r["train/loss"] for r in _records(run_dir, "train")]


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _subprocess(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(TINY), "--config", str(SMOKE), *argv], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted 4-epoch smoke run."""
    run_dir = tmp_path_factory.mktemp("engine") / "reference"
    assert run_inprocess(run_dir) == 0
    return run_dir


def test_run_dir_layout_and_config(reference):
    assert sorted(p.name for p in (reference / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    config = yaml.safe_load((reference / "config.yaml").read_text())
    assert config["epochs"] == 4 and config["lr_schedule"] == "paper" and config["seed"] == 0
    assert (reference / "argv.txt").is_file()
    state = load_checkpoint(reference / "checkpoints" / "last.pt")
    assert state["epoch"] == 4 and state["step"] == 16 and state["batch_in_epoch"] == 0
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "config"} <= state.keys()
    assert {"python", "numpy", "torch"} <= state["rng"][0].keys()
    assert len(_losses(reference)) == 4 and len(_records(reference, "val")) == 4
    assert _losses(reference)[-1] < _losses(reference)[0]  # it does train


def test_same_seed_same_loss_curve(reference, tmp_path):
    assert run_inprocess(tmp_path / "again") == 0
    assert _losses(tmp_path / "again") == _losses(reference)
    assert run_inprocess(tmp_path / "seed1", "--seed", "1") == 0
    assert _losses(tmp_path / "seed1") != _losses(reference)


def test_best_checkpoint_follows_the_metric(reference):
    vals = [r["tiny/mse"] for r in _records(reference, "val")]
    best = load_checkpoint(reference / "checkpoints" / "best.pt")
    assert best["best"]["value"] == min(vals)
    assert best["epoch"] == vals.index(min(vals)) + 1


def test_val_start_validates_and_saves_the_starting_weights(reference, tmp_path):
    """``--val-start``: epoch 0 is validated and saved before training (best.pt while no epoch
    beats it), training is unchanged, and ``--epochs 0`` makes a run of its start alone."""
    run_dir = tmp_path / "start"
    assert run_inprocess(run_dir, "--val-start") == 0
    vals = _records(run_dir, "val")
    assert [r["epoch"] for r in vals] == [0, 1, 2, 3, 4]
    assert vals[1:] == [{**r, "time": v["time"]} for r, v in zip(_records(reference, "val"),
                                                                   vals[1:])]
    assert _losses(run_dir) == _losses(reference)
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["best"]["value"] == min(r["tiny/mse"] for r in vals)
    zero = tmp_path / "zero"
    assert run_inprocess(zero, "--val-start", "--epochs", "0") == 0
    (record,) = _records(zero, "val")
    assert record["epoch"] == 0 and record["tiny/mse"] == vals[0]["tiny/mse"]
    assert _losses(zero) == []
    start = load_checkpoint(zero / "checkpoints" / "best.pt")
    assert start["epoch"] == 0 and start["best"]["epoch"] == 0
    assert (zero / "checkpoints" / "last.pt").is_file()


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(reference, tmp_path):
    run_dir = tmp_path / "killed"
    # 4 steps per epoch: the 10th training step is in epoch 3
    proc = _subprocess("--run-dir", str(run_dir), "--kill-at-step", "10")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"]) == (2, 0)
    assert run_inprocess(run_dir, "--resume") == 0
    _assert_same_state(load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"],
                       load_checkpoint(reference / "checkpoints" / "last.pt")["model"])
    assert _losses(run_dir) == _losses(reference)


def test_sigterm_saves_mid_epoch_and_resume_is_exact(reference, tmp_path, capsys):
    run_dir = tmp_path / "term"
    assert run_inprocess(run_dir, "--kill-at-step", "10", "--kill-signal", "SIGTERM") == 130
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["step"]) == (2, 2, 10)
    before = state["partial"]["seconds"]
    assert before > 0 and state["partial"]["samples"] > 0
    assert _records(run_dir, "interrupt")[0]["signal"] == "SIGTERM"
    out = capsys.readouterr().out
    assert "continue with --resume" in out
    assert re.search(r"\d+ training samples, \d+ validation samples", out)  # the run's header
    assert run_inprocess(run_dir, "--resume") == 0
    # the resumed epoch's time includes the segment before the SIGTERM
    resumed = _records(run_dir, "train")[2]
    assert resumed["epoch"] == 3 and resumed["seconds"] >= before
    assert "train/seconds" not in resumed  # popped, not averaged as a metric
    _assert_same_state(load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"],
                       load_checkpoint(reference / "checkpoints" / "last.pt")["model"])
    assert _losses(run_dir) == _losses(reference)


def test_adam_eps_reaches_the_optimizer(reference, tmp_path):
    assert load_checkpoint(reference / "checkpoints" / "last.pt")[
        "optimizer"]["param_groups"][0]["eps"] == 1e-8                  # torch's default
    run_dir = tmp_path / "eps"
    assert run_inprocess(run_dir, "--epochs", "1", "--adam-eps", "1e-3") == 0
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["optimizer"]["param_groups"][0]["eps"] == 1e-3
    assert state["config"]["adam_eps"] == 1e-3
    assert _losses(run_dir)[0] != _losses(reference)[0]


def test_resume_restores_scheduler_and_optimizer(reference, tmp_path):
    run_dir = tmp_path / "short"
    assert run_inprocess(run_dir, "--epochs", "3") == 0
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["scheduler"]["last_epoch"] == 3
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.005)  # 0.01 * 0.5
    assert run_inprocess(run_dir, "--resume", "--epochs", "4") == 0
    ours = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    ref = load_checkpoint(reference / "checkpoints" / "last.pt")
    assert ours["scheduler"] == ref["scheduler"]
    assert ours["optimizer"]["param_groups"] == ref["optimizer"]["param_groups"]
    for key, value in ref["optimizer"]["state"][0].items():
        assert torch.equal(ours["optimizer"]["state"][0][key], value), key
    _assert_same_state(ours["model"], ref["model"])


def test_existing_run_needs_resume_and_resume_needs_a_checkpoint(reference, tmp_path, capsys):
    assert run_inprocess(reference) == 2
    assert "--resume" in capsys.readouterr().err
    assert run_inprocess(tmp_path / "empty", "--resume") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint not found") and "last.pt" in err


def test_eval_only_loads_best_checkpoint(reference, tmp_path):
    best = load_checkpoint(reference / "checkpoints" / "best.pt")
    run_dir = tmp_path / "eval"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "best.pt").write_bytes(
        (reference / "checkpoints" / "best.pt").read_bytes())
    assert run_inprocess(run_dir, "--eval-only") == 0
    (record,) = _records(run_dir, "eval")
    assert record["tiny/mse"] == pytest.approx(best["best"]["value"], rel=1e-6)
    assert record["epoch"] == best["epoch"]


def test_tensorboard_tags(reference):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(reference / "tb"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"train/loss", "train/mse", "train/lr", "train/samples_per_s",
            "val/tiny/mse"} <= set(tags["scalars"])
    assert {"solver/step_sizes", "solver/net.0.weight"} <= set(tags["histograms"])
    assert "tiny/prediction" in tags["images"]
    lrs = [e.value for e in acc.Scalars("train/lr")]
    assert lrs == pytest.approx([0.01, 0.01, 0.005, 0.005])


def test_seeded_workers_give_the_same_curve_across_a_resume(tmp_path):
    opts = ("--workers", "1", "--augment", "--val-every", "0", "--epochs", "2")
    assert run_inprocess(tmp_path / "straight", *opts) == 0
    assert run_inprocess(tmp_path / "split", *opts[:-1], "1") == 0
    assert run_inprocess(tmp_path / "split", *opts, "--resume") == 0
    assert _losses(tmp_path / "split") == _losses(tmp_path / "straight")
    _assert_same_state(load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["model"],
                       load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")["model"])


def test_task_param_groups_follow_schedule_and_backtracking(tmp_path):
    """A task's ``param_groups`` hook sets per-group rates; the schedule and backtracking scale
    them all by one factor, and ``Engine.lr`` reports the global rate."""
    from _engine_tiny import TinyModel, TinyTask, tiny_data

    from stereo_tv.train import Engine, EngineConfig

    class GroupTask(TinyTask):
        def param_groups(self, model, lr):
            return [{"params": [model.step_sizes], "lr": 10 * lr},
                    {"params": list(model.net.parameters())}]

    config = EngineConfig(run_dir=str(tmp_path / "run"), epochs=1, lr=1e-3, lr_every=1,
                          lr_gamma=0.5, device="cpu")
    engine = Engine(TinyModel(), GroupTask(steps_per_epoch=1), tiny_data(8, 0), config=config)
    assert [g["lr"] for g in engine.optimizer.param_groups] == pytest.approx([1e-2, 1e-3])
    engine.scheduler.step()                     # one decay: x 0.5
    engine.scheduler.scale_lr(0.8)              # one backtrack: x 0.8
    assert [g["lr"] for g in engine.optimizer.param_groups] == pytest.approx([4e-3, 4e-4])
    assert engine.lr == pytest.approx(4e-4)
    engine.close()


def test_engine_calls_dataset_set_epoch(tmp_path):
    from _engine_tiny import TinyModel, TinyTask, tiny_data

    from stereo_tv.train import Engine, EngineConfig

    class Recording(torch.utils.data.Dataset):
        def __init__(self):
            self.base, self.epochs = tiny_data(8, 0), []

        def __len__(self):
            return len(self.base)

        def __getitem__(self, i):
            return self.base[i]

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

    data = Recording()
    config = EngineConfig(run_dir=str(tmp_path / "run"), epochs=3, batch_size=4, device="cpu",
                          val_every=0)
    Engine(TinyModel(), TinyTask(steps_per_epoch=2), data, config=config).run()
    assert data.epochs == [0, 1, 2]
