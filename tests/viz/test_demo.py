"""scripts/demo.py on the downscaled Motorcycle pair (scikit-image data, offline, SGBM)."""

import json
from pathlib import Path

import cv2
import pytest
from conftest import load_script

from stereo_tv.cli import run_cli

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


@pytest.fixture(scope="module")
def demo():
    return load_script(SCRIPT)


def test_demo_downscaled_writes_everything(demo, tmp_path, monkeypatch, capsys):
    pytest.importorskip("open3d", reason="open3d is not installed or not loadable")
    monkeypatch.delenv("STEREO_TV_PSMNET", raising=False)
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--scale", "0.25", "--renderer", "numpy"]
    assert run_cli(demo.main, demo.get_args_parser(), argv) == 0
    text = capsys.readouterr().out
    assert "backbone SGBM" in text and "numpy renderer" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backbone"] == "SGBM" and set(metrics["raw"]) == {"epe", "d1", "bad2"}
    assert metrics["raw"]["epe"] < 3.0          # SGBM gets ~1 px at quarter of the size
    for name in ("figure.png", "pointcloud.png"):
        assert cv2.imread(str(out / name)) is not None
    assert (out / "pointcloud.ply").stat().st_size > 1000


def test_demo_bad_weights_and_scale_are_one_line_errors(demo, tmp_path, capsys):
    parser = demo.get_args_parser
    argv = ["--out", str(tmp_path), "--scale", "0.25", "--weights", str(tmp_path / "no.tar")]
    assert run_cli(demo.main, parser(), argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert run_cli(demo.main, parser(), ["--out", str(tmp_path), "--scale", "2"]) == 2
    assert "--scale must be in (0, 1]" in capsys.readouterr().err
