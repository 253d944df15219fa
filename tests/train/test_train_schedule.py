"""Step-decay schedules: values known by construction, backtracking scale, state round trip."""

from __future__ import annotations

import pytest
import torch

from stereo_tv.train import SCHEDULES, StepDecayLR, build_scheduler


def _opt(lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def _lrs(sched: StepDecayLR, epochs: int) -> list[float]:
    out = []
    for _ in range(epochs):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


def test_paper_schedule_decays_by_035_every_80_epochs():
    lrs = _lrs(build_scheduler(_opt(6e-4), "paper"), 241)
    assert lrs[0] == lrs[79] == pytest.approx(6e-4)
    assert lrs[80] == lrs[159] == pytest.approx(6e-4 * 0.35)
    assert lrs[160] == pytest.approx(6e-4 * 0.35**2)
    assert lrs[240] == pytest.approx(6e-4 * 0.35**3)


def test_psmnet_schedule_is_1e3_then_1e4_after_epoch_200():
    lrs = _lrs(build_scheduler(_opt(1e-3), "psmnet"), 202)
    assert lrs[199] == pytest.approx(1e-3)
    assert lrs[200] == lrs[201] == pytest.approx(1e-4)


def test_constant_and_configurable_steps():
    assert set(_lrs(build_scheduler(_opt(0.1), "constant"), 5)) == {0.1}
    lrs = _lrs(build_scheduler(_opt(1.0), "paper", every=2, gamma=0.5), 5)
    assert lrs == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    lrs = _lrs(build_scheduler(_opt(1.0), "psmnet", milestones=[1, 3]), 4)
    assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_unknown_schedule_lists_valid_names():
    with pytest.raises(ValueError, match="valid: paper, psmnet, constant") as info:
        build_scheduler(_opt(1.0), "cosine")
    assert "cosine" in str(info.value)
    assert set(SCHEDULES) == {"paper", "psmnet", "constant"}


def test_scale_lr_applies_now_and_to_later_decays():
    sched = build_scheduler(_opt(1.0), "paper", every=2, gamma=0.5)
    _lrs(sched, 1)
    sched.scale_lr(0.8)
    assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(0.8)
    assert _lrs(sched, 3) == pytest.approx([0.8, 0.4, 0.4])


def test_state_dict_round_trip_continues_the_same_curve():
    a = build_scheduler(_opt(1.0), "paper", every=2, gamma=0.5)
    _lrs(a, 3)
    a.scale_lr(0.8)
    b = build_scheduler(_opt(1.0), "paper", every=50, gamma=0.9)
    b.load_state_dict(a.state_dict())
    b.optimizer.param_groups[0]["lr"] = a.optimizer.param_groups[0]["lr"]
    assert _lrs(b, 4) == pytest.approx(_lrs(a, 4))
