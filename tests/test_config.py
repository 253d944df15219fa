"""The config helper: YAML defaults, command-line overrides, strict keys, saved runs."""

import argparse

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import assert_user_error, run_script

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.config import ConfigError, parse_config, save_config


def _parser():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--tv-iters", type=int, default=24)
    p.add_argument("--name", default="run")
    return p


def test_defaults_without_config():
    args = parse_config(_parser(), [])
    assert args.lr == 1e-3 and args.tv_iters == 24 and args.config is None


def test_yaml_sets_defaults_and_cli_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 0.5\ntv-iters: 12\n")
    args = parse_config(_parser(), ["--config", str(cfg)])
    assert args.lr == 0.5 and args.tv_iters == 12
    args = parse_config(_parser(), ["--config", str(cfg), "--lr", "0.25"])
    assert args.lr == 0.25 and args.tv_iters == 12


def test_unknown_key_is_an_error_listing_valid_keys(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lrr: 0.5\n")
    with pytest.raises(ConfigError, match="unknown key 'lrr'.*lr, name, tv_iters"):
        parse_config(_parser(), ["--config", str(cfg)])


@pytest.mark.parametrize("text", ["- a\n- b\n", "lr: [1, 2\n"])
def test_bad_yaml_is_an_error(tmp_path, text):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=str(cfg)):
        parse_config(_parser(), ["--config", str(cfg)])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        parse_config(_parser(), ["--config", str(tmp_path / "nope.yaml")])


def test_save_config_round_trip(tmp_path):
    args = parse_config(_parser(), ["--lr", "0.1"])
    path = save_config(tmp_path / "run", args, argv=["train.py", "--lr", "0.1"])
    assert yaml.safe_load(path.read_text())["lr"] == 0.1
    assert (tmp_path / "run" / "argv.txt").read_text().strip() == "train.py --lr 0.1"


def test_run_cli_maps_user_errors_to_exit_2(capsys):
    def main(args):
        raise UserError("left and right differ in size: 10x12 vs 10x13")

    assert run_cli(main, _parser(), []) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: left and right differ in size: 10x12 vs 10x13"


def test_run_cli_passes_exit_code():
    assert run_cli(lambda args: 3, _parser(), []) == 3
    assert run_cli(lambda args: None, _parser(), []) == 0


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npy"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None) == pick_device("auto")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="must be auto, cpu, cuda"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="asks for CUDA, but torch sees no GPU"):
            pick_device("cuda:1")


def test_cuda_without_gpu_is_a_one_line_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((16, 16), np.uint8))
    proc = run_script("scripts/denoise.py", "run", "--input", img, "--sigma", "25",
                      "--out", tmp_path / "out.png", "--device", "cuda")
    assert_user_error(proc, "--device cuda", "no GPU")
    assert not (tmp_path / "out.png").exists()
