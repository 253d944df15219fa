"""Backtracking (paper Sec. 3.3 / App. B): restore the snapshot and lower the lr on divergence."""

from __future__ import annotations

import json
import math

import pytest
import torch
from _engine_tiny import run_inprocess

from stereo_tv.train import Backtracker, load_checkpoint


def _model_and_opt():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    return model, opt


def _train_step(model, opt):
    opt.zero_grad()
    model(torch.ones(1, 2)).sum().backward()
    opt.step()


def test_growth_within_factor_is_accepted_and_snapshotted():
    model, opt = _model_and_opt()
    bt = Backtracker(every=2, factor=2.0)
    assert bt.update(1, 1.0, model, opt) is None            # first check: reference 1.0
    _train_step(model, opt)
    assert bt.update(2, 100.0, model, opt) is None          # not a check epoch
    assert bt.update(3, 1.9, model, opt) is None            # 1.9 <= 2 * 1.0: accepted
    assert bt.ref_loss == 1.9
    assert torch.equal(bt.snapshot["model"]["weight"], model.weight)


def test_divergence_restores_model_and_optimizer():
    model, opt = _model_and_opt()
    bt = Backtracker(every=1, factor=2.0, lr_decay=0.8)
    _train_step(model, opt)
    bt.update(0, 1.0, model, opt)
    weight, exp_avg = model.weight.detach().clone(), opt.state[model.weight]["exp_avg"].clone()
    for _ in range(3):
        _train_step(model, opt)
    event = bt.update(1, 2.5, model, opt)
    assert event == {"epoch": 2, "loss": 2.5, "ref_loss": 1.0, "lr_decay": 0.8}
    assert torch.equal(model.weight, weight)
    assert torch.equal(opt.state[model.weight]["exp_avg"], exp_avg)
    assert bt.events == 1 and bt.ref_loss == 1.0


def test_nan_restores_at_any_epoch_and_raises_without_backtracking():
    model, opt = _model_and_opt()
    bt = Backtracker(every=10)
    bt.take_snapshot(model, opt)
    with torch.no_grad():
        model.weight.fill_(math.nan)
    assert bt.update(3, math.nan, model, opt) is not None   # epoch 4 is no check epoch
    assert torch.isfinite(model.weight).all()
    with pytest.raises(FloatingPointError, match="inf at epoch 1"):
        Backtracker(every=0).update(0, math.inf, model, opt)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="factor"):
        Backtracker(factor=1.0)
    with pytest.raises(ValueError, match="lr_decay"):
        Backtracker(lr_decay=1.5)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bt") / "two"
    assert run_inprocess(run_dir, "--epochs", "2") == 0
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")


@pytest.mark.parametrize("kind", ["nan", "scale"])
def test_engine_restores_snapshot_and_reduces_lr(two_epochs, tmp_path, capsys, kind):
    run_dir = tmp_path / kind
    # epoch 3's loss is NaN, or 1000x larger: the engine must restore the epoch-2 snapshot
    assert run_inprocess(run_dir, "--epochs", "3", "--diverge-at-epoch", "3",
                         "--diverge", kind) == 0
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    for key, value in two_epochs["model"].items():
        assert torch.equal(state["model"][key], value), key
    for key, value in two_epochs["optimizer"]["state"][0].items():
        assert torch.equal(state["optimizer"]["state"][0][key], value), key
    # schedule: 0.01 * 0.5 at epoch 3, then x0.8 for the restore
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.004)
    assert state["scheduler"]["scale"] == pytest.approx(0.8)
    assert state["backtrack"]["events"] == 1
    lines = [json.loads(t) for t in (run_dir / "metrics.jsonl").read_text().splitlines()]
    (event,) = [r for r in lines if r["event"] == "backtrack"]
    assert event["epoch"] == 3 and event["lr"] == pytest.approx(0.004)
    assert event["lr_before"] == pytest.approx(0.005)
    assert "backtrack at epoch 3" in capsys.readouterr().out
