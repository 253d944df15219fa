"""Checkpoint files: atomic writes, clear errors for bad files, weights for evaluation."""

from __future__ import annotations

import pickle
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _engine_tiny import TinyModel, run_inprocess

from stereo_tv.cli import UserError
from stereo_tv.train import (
    load_checkpoint,
    load_model_weights,
    resume_path,
    run_directory,
    save_checkpoint,
)
from stereo_tv.train._checkpoint import get_rng_state, set_rng_state


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ckpt") / "one"
    assert run_inprocess(run_dir, "--epochs", "1") == 0
    return run_dir


def test_save_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "c.pt"
    save_checkpoint(path, {"epoch": 3, "w": torch.arange(4.0)})
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporary file left


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoint_error_names_the_file(one_epoch, tmp_path, damage):
    data = (one_epoch / "checkpoints" / "last.pt").read_bytes()
    bad = {"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage]
    path = tmp_path / "last.pt"
    path.write_bytes(bad)
    with pytest.raises(UserError, match="corrupt or not a PyTorch file") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    with pytest.raises(UserError, match=str(path)):
        load_model_weights(TinyModel(), path)


@pytest.mark.parametrize(("content", "reason"), [
    (b"hello world", "(neither a PyTorch archive nor a pickle)"),
    (pickle.dumps({"a": object}), "(a pickle of Python objects, not of tensors"),
])
def test_foreign_file_gets_a_short_reason(tmp_path, content, reason):
    """A text file or a pickle of Python objects: one short line, without torch's advice to
    load with ``weights_only=False`` or the unpickler's opcode number, and without torch's
    warning about the pickle's protocol."""
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # any warning fails the test
        with pytest.raises(UserError, match="corrupt or not a PyTorch file") as info:
            load_checkpoint(path)
    message = str(info.value)
    assert reason in message and "weights_only" not in message
    assert len(message.partition(" (")[2].partition(")")[0]) < 100      # the reason: short


def test_warnings_of_a_good_load_are_replayed_once_per_place(tmp_path, monkeypatch):
    """A warning torch gives on a load that succeeds is held back, then replayed, once per
    process however often the file is loaded (the "default" filter's promise, which
    catch_warnings would otherwise break by resetting the per-place registries)."""
    from stereo_tv.cli import load_torch_file

    def warning_load(path, **kwargs):
        warnings.warn("torch says so", FutureWarning, stacklevel=1)
        return {"ok": 1}

    path = tmp_path / "w.pt"
    torch.save({"ok": 1}, path)
    monkeypatch.setattr(torch, "load", warning_load)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        for _ in range(3):
            assert load_torch_file(path, "weights") == {"ok": 1}
    assert [str(w.message) for w in shown] == ["torch says so"]
    assert shown[0].category is FutureWarning


def test_resume_from_truncated_checkpoint_fails_clearly(one_epoch, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    data = (one_epoch / "checkpoints" / "last.pt").read_bytes()
    (run_dir / "checkpoints" / "last.pt").write_bytes(data[: len(data) - 100])
    assert run_inprocess(run_dir, "--resume") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint ") and "last.pt is corrupt" in err
    assert not (run_dir / "metrics.jsonl").exists()  # nothing restarted silently


def test_load_model_weights_from_a_run(one_epoch):
    state = load_checkpoint(one_epoch / "checkpoints" / "last.pt")["model"]
    model = load_model_weights(TinyModel(), one_epoch / "checkpoints" / "last.pt")
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])


def test_load_model_weights_strips_ddp_prefix_and_checks_keys(tmp_path):
    src = TinyModel()
    torch.nn.init.constant_(src.step_sizes, 0.25)
    path = tmp_path / "w.pt"
    save_checkpoint(path, {f"module.{k}": v for k, v in src.state_dict().items()})
    assert torch.equal(load_model_weights(TinyModel(), path).step_sizes, src.step_sizes)

    with pytest.raises(UserError, match="shape mismatch for step_sizes") as info:
        load_model_weights(TinyModel(iters=5), path)
    assert "w.pt" in str(info.value)
    save_checkpoint(path, {"model": {"step_sizes": src.step_sizes.detach()}})
    with pytest.raises(UserError, match="missing keys"):
        load_model_weights(TinyModel(), path)
    model = load_model_weights(TinyModel(), path, strict=False)
    assert torch.equal(model.step_sizes, src.step_sizes)
    with pytest.raises(UserError, match="not found"):
        load_model_weights(TinyModel(), tmp_path / "absent.pt")


def test_rng_state_round_trip(tmp_path):
    state = get_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_run_directory_and_resume_path(tmp_path):
    assert run_directory(None, "mri/x") == Path("runs/mri/x")
    assert run_directory(tmp_path, "ignored") == tmp_path
    assert resume_path(tmp_path, None) is None
    for word in ("auto", "last"):
        assert resume_path(tmp_path, word) == tmp_path / "checkpoints" / "last.pt"
    assert resume_path(tmp_path, "other.pt") == Path("other.pt")
