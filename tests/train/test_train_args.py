"""Engine options: argparse + YAML defaults, EngineConfig checks."""

from __future__ import annotations

import argparse

import pytest

from stereo_tv.cli import UserError
from stereo_tv.config import ConfigError, parse_config
from stereo_tv.train import EngineConfig, add_engine_args


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--sigma", type=float, default=25.0)  # a task option beside the engine's
    return add_engine_args(p)


def test_defaults_match_engine_config():
    args = _parser().parse_args([])
    config = EngineConfig.from_args(args)
    assert config == EngineConfig()
    assert (config.lr, config.lr_schedule, config.backtrack_lr_decay) == (6e-4, "paper", 0.8)


def test_yaml_sets_defaults_and_command_line_wins(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 5\nlr-schedule: psmnet\nlr_milestones: [3, 4]\nresume: true\n")
    args = parse_config(_parser(), ["--config", str(cfg), "--epochs", "7"])
    config = EngineConfig.from_args(args)
    assert (config.epochs, config.lr_schedule, config.lr_milestones) == (7, "psmnet", [3, 4])
    assert config.resume == "auto" and args.sigma == 25.0
    cfg.write_text("epoch: 5\n")
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        parse_config(_parser(), ["--config", str(cfg)])


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "--epochs must be >= 1"),
    ("lr", -1.0, "--lr must be > 0"),
    ("adam_eps", 0.0, "--adam-eps must be > 0"),
    ("amp", "fp8", "--amp must be one of none, fp16, bf16"),
    ("backtrack_factor", 0.5, "--backtrack-factor must be > 1"),
    ("lr_gamma", 2.0, "--lr-gamma must be in"),
])
def test_bad_values_are_user_errors(field, value, message):
    with pytest.raises(UserError, match=message):
        EngineConfig(**{field: value}).check()
