"""benchmarks/mri_baselines.py: one run scores every method; extra weight files join the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_main, shared_path

from stereo_tv.mri.pretrained import weights_path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "mri_baselines.py"


def _bench(*argv: str) -> int:
    return run_main(BENCH, *argv)


def test_extra_weights_scored_like_the_shipped_ones(tmp_path, capsys):
    data = shared_path("data", "mri", "ChestTrain", "chest_train_float32.npy")
    out = tmp_path / "rows.json"
    shipped = weights_path("cs-tv", 50)
    assert _bench("--data", str(data), "--rates", "50", "--limit", "1", "--tv-lams", "1e-3",
                  "--tv-iters", "5", "--tune-count", "1", "--weights", str(shipped),
                  "--json", str(out)) == 0
    rows = json.loads(out.read_text())
    by_method = {(r["method"], r.get("weights")): r for r in rows}
    assert set(by_method) == {("zero-filled", None), ("tv", None), ("cs-tv", None),
                              ("cs-sc", None), ("cs-tv", str(shipped))}
    assert by_method[("cs-tv", str(shipped))]["psnr"] == by_method[("cs-tv", None)]["psnr"]
    for learned in ("cs-tv", "cs-sc"):
        assert by_method[(learned, None)]["psnr"] > by_method[("zero-filled", None)]["psnr"]
    assert "(no shipped weights)" not in capsys.readouterr().out


def test_rate_without_shipped_weights_is_said_not_skipped(tmp_path, capsys):
    data = shared_path("data", "mri", "ChestTrain", "chest_train_float32.npy")
    out = tmp_path / "rows.json"
    assert _bench("--data", str(data), "--rates", "10", "--limit", "1", "--tv-lams", "1e-3",
                  "--tv-iters", "5", "--tune-count", "1", "--json", str(out)) == 0
    assert {r["method"] for r in json.loads(out.read_text())} == {"zero-filled", "tv"}
    said = [line.split()[1] for line in capsys.readouterr().out.splitlines()
            if line.endswith("(no shipped weights)")]
    assert said == ["cs-tv", "cs-sc"]


def test_missing_weights_file_is_a_one_line_error(tmp_path):
    data = shared_path("data", "mri", "ChestTrain", "chest_train_float32.npy")
    assert _bench("--data", str(data), "--rates", "50", "--weights",
                  str(tmp_path / "nope.pt")) == 2


COND = BENCH.with_name("cs_sc_conditioning.py")


@pytest.mark.slow
def test_conditioning_benchmark_prints_both_settings(capsys):
    data = shared_path("data", "mri", "ChestTrain", "chest_train_float32.npy")
    assert run_main(COND, "--data", str(data), "--steps", "1", "--every", "1", "--val", "1") == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| scale")]
    assert [r.split(" | ")[:2] for r in rows] == [["| scale 1", "0"], ["| scale 1", "1"],
                                                  ["| scale 100", "0"], ["| scale 100", "1"]]
    assert rows[3].split(" | ")[2] == "0%"          # scale 100: no threshold dies in a step


def test_conditioning_benchmark_missing_data_is_a_one_line_error(tmp_path, capsys):
    assert run_main(COND, "--data", str(tmp_path / "nope.npy")) == 2
    assert capsys.readouterr().err.count("\n") == 1


START = BENCH.with_name("cs_sc_start.py")


@pytest.mark.slow
def test_start_benchmark_lsq_codes_beat_zero_codes(capsys):
    data = shared_path("data", "mri", "ChestTrain", "chest_train_float32.npy")
    assert run_main(START, "--data", str(data), "--val", "1") == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| zero") or line.startswith("| lsq")]
    psnr = {(r[0][2:], r[1]): float(r[2]) for r in rows}
    assert list(psnr) == [("zero", "1 patch^2"), ("zero", "1.8 patch^2"), ("lsq", "1 patch^2"),
                          ("lsq", "1.8 patch^2")]
    assert psnr[("lsq", "1.8 patch^2")] > psnr[("zero", "1 patch^2")] + 1.0


def test_start_benchmark_missing_data_is_a_one_line_error(tmp_path, capsys):
    assert run_main(START, "--data", str(tmp_path / "nope.npy")) == 2
    assert capsys.readouterr().err.count("\n") == 1
