"""``--ema``: the engine validates, checkpoints and resumes a moving average of the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _engine_tiny import TinyModel, run_inprocess, tiny_data

from stereo_tv.train import load_checkpoint

DECAY = 0.6
# one-step epochs, without backtracking (one batch's loss is too noisy for it)
ONE_STEP = ("--max-steps-per-epoch", "1", "--backtrack-every", "0")


def _state(run_dir: Path, name: str = "last.pt") -> dict:
    return load_checkpoint(run_dir / "checkpoints" / name)


def _vals(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r["tiny/mse"] for r in map(json.loads, lines) if r["event"] == "val"]


def _mse(weights: dict) -> float:
    """The tiny task's validation metric for ``weights``, computed here."""
    model = TinyModel()
    model.load_state_dict(weights)
    x, y = tiny_data(8, 99).tensors
    with torch.no_grad():
        return torch.stack([torch.mean((model(x[i:i + 4]) - y[i:i + 4]) ** 2)
                            for i in range(0, 8, 4)]).mean().item()


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory) -> Path:
    """Four one-step epochs with --ema, so every step's average is validated."""
    run_dir = tmp_path_factory.mktemp("ema") / "ema"
    assert run_inprocess(run_dir, *ONE_STEP, "--ema", str(DECAY)) == 0
    return run_dir


def test_the_average_is_the_ema_of_the_trained_weights(ema_run, tmp_path):
    # the same run without --ema follows the same trajectory; its last.pt after k one-step
    # epochs holds the weights after step k
    steps = []
    for k in range(1, 5):
        assert run_inprocess(tmp_path / f"plain{k}", *ONE_STEP, "--epochs", str(k)) == 0
        steps.append(_state(tmp_path / f"plain{k}")["model"])
    expected = dict(steps[0])
    for weights in steps[1:]:
        expected = {k: DECAY * expected[k] + (1 - DECAY) * weights[k] for k in expected}
    state = _state(ema_run)
    assert state["ema_steps"] == 4
    for key, value in steps[-1].items():
        assert torch.equal(state["train_model"][key], value), key
        assert torch.allclose(state["model"][key], expected[key], rtol=0, atol=1e-6), key
    assert not torch.equal(state["model"]["net.0.weight"], state["train_model"]["net.0.weight"])


def test_validation_and_best_checkpoint_use_the_average(ema_run):
    vals = _vals(ema_run)
    assert _mse(_state(ema_run)["model"]) == pytest.approx(vals[-1], rel=1e-5)
    assert _mse(_state(ema_run)["train_model"]) != pytest.approx(vals[-1], rel=1e-5)
    best = _state(ema_run, "best.pt")
    assert best["best"]["value"] == min(vals)
    assert _mse(best["model"]) == pytest.approx(min(vals), rel=1e-5)


def test_sigterm_resume_keeps_the_average(tmp_path):
    whole, term = tmp_path / "whole", tmp_path / "term"
    assert run_inprocess(whole, "--ema", "0.9") == 0
    assert run_inprocess(term, "--ema", "0.9", "--kill-at-step", "10",
                         "--kill-signal", "SIGTERM") == 130
    assert _state(term)["ema_steps"] == 10
    assert run_inprocess(term, "--resume", "--ema", "0.9") == 0
    a, b = _state(whole), _state(term)
    for key in ("model", "train_model"):
        for name, value in a[key].items():
            assert torch.equal(b[key][name], value), (key, name)
    assert _vals(term) == _vals(whole)


def test_backtracking_restarts_the_average_from_the_restored_weights(tmp_path):
    run_dir = tmp_path / "nan"
    # epoch 3's loss is NaN: its steps poison the average unless the restore resets it
    assert run_inprocess(run_dir, "--epochs", "3", "--diverge-at-epoch", "3", "--ema", "0.9") == 0
    state = _state(run_dir)
    assert state["backtrack"]["events"] == 1
    for name, value in state["train_model"].items():
        assert torch.isfinite(value).all(), name
        assert torch.equal(state["model"][name], value), name


def test_eval_only_validates_the_saved_average(ema_run, tmp_path):
    run_dir = tmp_path / "eval"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "best.pt").write_bytes(
        (ema_run / "checkpoints" / "best.pt").read_bytes())
    assert run_inprocess(run_dir, "--eval-only") == 0
    (record,) = [json.loads(t) for t in (run_dir / "metrics.jsonl").read_text().splitlines()
                 if json.loads(t)["event"] == "eval"]
    assert record["tiny/mse"] == pytest.approx(min(_vals(ema_run)), rel=1e-6)


@pytest.mark.parametrize("decay", ["1", "-0.1"])
def test_decay_outside_zero_one_is_a_one_line_error(tmp_path, capsys, decay):
    assert run_inprocess(tmp_path / "bad", "--ema", decay) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --ema must be in [0, 1)") and err.count("\n") == 1
    assert not (tmp_path / "bad" / "checkpoints").exists()
