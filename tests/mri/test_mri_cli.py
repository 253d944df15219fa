"""scripts/fmri_cs.py as a user runs it: smoke training, eval json, run, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_user_error, load_script, run_main, run_script

from stereo_tv.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "fmri_cs.py"


def _script():
    return load_script(SCRIPT)


def _main(*argv: str) -> int:
    return run_main(SCRIPT, *argv)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_script(SCRIPT, *args, timeout=300)


def _phantoms(folder: Path, n: int = 6, size=(24, 20)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.full(size, 0.2, dtype=np.float32)
        r, c = rng.integers(2, 8, size=2)
        img[r:r + 10, c:c + 9] = 0.6 + 0.3 * rng.random()
        np.save(folder / f"img_{i:02d}.npy", img)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke CS-TV run on fake 24x20 images (configs/mri/smoke.yaml), exported."""
    tmp = tmp_path_factory.mktemp("mri")
    data = _phantoms(tmp / "data")
    run_dir = tmp / "run"
    code = _main("train", "--config", str(REPO / "configs/mri/smoke.yaml"), "--data", str(data),
                 "--rate", "30", "--run-dir", str(run_dir), "--epochs", "4", "--lr", "0.05",
                 "--log-images-every", "0")
    assert code == 0
    return tmp, data, run_dir


def test_smoke_training_lowers_loss_and_exports(trained):
    _, _, run_dir = trained
    rows = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in rows if r["event"] == "train"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    untrained = json.loads((run_dir / "untrained_val.json").read_text())["val/psnr"]
    best = max(r["val/psnr"] for r in rows if r["event"] == "val")
    assert best > untrained
    assert (run_dir / "export" / "cs_tv_30.pt").is_file()
    assert (run_dir / "config.yaml").is_file() and (run_dir / "argv.txt").is_file()


def test_export_eval_json_and_run(trained, tmp_path):
    _, data, run_dir = trained
    weights = tmp_path / "w.pt"
    assert _main("export", "--run-dir", str(run_dir), "--out", str(weights)) == 0
    out = tmp_path / "res.json"
    assert _main("eval", "--weights", str(weights), "--data", str(data), "--json", str(out)) == 0
    res = json.loads(out.read_text())
    assert len(res["images"]) == 6 and set(res["images"][0]) == {"name", "psnr", "seconds"}
    assert res["mean"]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in res["images"]]))
    recon = tmp_path / "r.png"
    assert _main("run", "--weights", str(weights), "--image", str(data / "img_00.npy"),
                 "--out", str(recon)) == 0
    assert cv2.imread(str(recon), cv2.IMREAD_UNCHANGED).shape == (24, 20)


def test_run_measured_kspace(trained, tmp_path):
    _, data, run_dir = trained
    weights = run_dir / "export" / "cs_tv_30.pt"
    img = np.load(data / "img_01.npy")
    mask = np.zeros((24, 20), dtype=np.uint8)
    mask[:, :6] = mask[:, -5:] = 1
    k = np.fft.fft2(img, norm="ortho") * mask
    np.save(tmp_path / "k.npy", np.fft.fftshift(k))                  # centred files
    cv2.imwrite(str(tmp_path / "m.png"), np.fft.fftshift(mask) * 255)
    out = tmp_path / "r.npy"
    assert _main("run", "--weights", str(weights), "--kspace", str(tmp_path / "k.npy"),
                 "--mask", str(tmp_path / "m.png"), "--centered", "--out", str(out)) == 0
    assert np.load(out).shape == (24, 20)


def test_eval_baselines_in_process(trained):
    _, data, _ = trained
    assert _main("eval", "--model", "zero-filled", "--mask", "radial", "--rate", "30",
                 "--data", str(data)) == 0


def _in_process_error(capsys, argv: tuple[str, ...], *words: str) -> None:
    assert _main(*argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for w in words:
        assert w in lines[0], lines[0]


def test_errors_are_one_line(trained, tmp_path, capsys):
    _, data, run_dir = trained
    weights = run_dir / "export" / "cs_tv_30.pt"
    big = tmp_path / "big"
    big.mkdir()
    np.save(big / "x.npy", np.zeros((32, 32), dtype=np.float32))
    _in_process_error(capsys, ("eval", "--weights", str(weights), "--data", str(big)),
                      "32x32", "mask is 24x20", "--mask radial")
    _in_process_error(capsys, ("run", "--weights", str(weights), "--image", str(big / "x.npy"),
                               "--out", str(tmp_path / "o.png")), "32x32", "mask is 24x20")
    _in_process_error(capsys, ("run", "--weights", str(tmp_path / "missing.pt"), "--image",
                               str(data / "img_00.npy"), "--out", str(tmp_path / "o.png")),
                      "missing.pt")
    _in_process_error(capsys, ("eval", "--weights", str(weights), "--data",
                               str(tmp_path / "nodata")), "nodata")
    _in_process_error(capsys, ("train", "--model", "cs-tv", "--mask", str(tmp_path / "m.png"),
                               "--data", str(data)), "m.png")


def test_rate_without_shipped_weights_exits_2():
    """The real command line (subprocess): exit status 2 and one line listing what exists."""
    res = _cli("eval", "--model", "cs-tv", "--rate", "37", "--data", str(REPO / "nowhere"))
    assert_user_error(res, "no shipped cs-tv weights for rate 37%", "available")


def test_cs_sc_smoke_training(tmp_path):
    data = _phantoms(tmp_path / "data", n=4, size=(14, 12))
    run_dir = tmp_path / "run"
    code = _main("train", "--config", str(REPO / "configs/mri/smoke.yaml"), "--model", "cs-sc",
                 "--patch", "3", "--atoms", "9", "--iters", "2", "--data", str(data),
                 "--rate", "40", "--run-dir", str(run_dir), "--epochs", "1",
                 "--log-images-every", "0")
    assert code == 0
    assert (run_dir / "export" / "cs_sc_40.pt").is_file()


def test_game_options_that_do_not_fit_are_a_one_line_error(tmp_path, capsys):
    """Fewer atoms than patch pixels cannot start from least-squares codes: one line, exit 2,
    no run directory."""
    import numpy as np

    data = _phantoms(tmp_path / "data", n=4, size=(14, 12))
    np.save(tmp_path / "d.npy", np.random.default_rng(0).standard_normal((9, 4)))
    run_dir = tmp_path / "run"
    argv = ("train", "--config", str(REPO / "configs/mri/smoke.yaml"), "--model", "cs-sc",
            "--patch", "3", "--atoms", "4", "--dictionary", str(tmp_path / "d.npy"),
            "--data", str(data), "--rate", "40", "--run-dir", str(run_dir))
    _in_process_error(capsys, argv, "needs num_atoms >= channels * patch_size^2 = 9")
    assert not run_dir.exists()


def test_a_bad_engine_option_fails_before_the_dictionary_is_learned(tmp_path, capsys,
                                                                     monkeypatch):
    data = _phantoms(tmp_path / "data", n=4, size=(14, 12))
    run_dir = tmp_path / "run"
    argv = ["train", "--config", str(REPO / "configs/mri/smoke.yaml"), "--model", "cs-sc",
            "--patch", "3", "--atoms", "9", "--data", str(data), "--rate", "40",
            "--run-dir", str(run_dir), "--ema", "1"]
    script = _script()

    def slow_set_up(*args, **kwargs):
        raise AssertionError("the dictionary was learned before the options were checked")

    monkeypatch.setattr(script, "initial_dictionary", slow_set_up)
    assert run_cli(script.main, script.get_args_parser(), argv) == 2
    assert capsys.readouterr().err.strip() == "error: --ema must be in [0, 1) (0 = off), got 1.0"
    assert not run_dir.exists()


def test_resume_keeps_the_runs_game_options(tmp_path, capsys):
    """A resumed run rebuilds the game it was trained with, not today's defaults or flags."""
    from stereo_tv.mri import load_weights

    data = _phantoms(tmp_path / "data", n=4, size=(14, 12))
    run_dir = tmp_path / "run"
    args = ("train", "--config", str(REPO / "configs/mri/smoke.yaml"), "--model", "cs-sc",
            "--patch", "3", "--atoms", "9", "--iters", "2", "--data", str(data), "--rate", "40",
            "--run-dir", str(run_dir), "--log-images-every", "0")
    assert _main(*args, "--epochs", "1", "--scale", "1", "--init-lambda", "1e-4",
                 "--code-init", "zero") == 0
    capsys.readouterr()
    assert _main(*args, "--epochs", "2", "--resume") == 0
    assert "keeps its recorded options" in capsys.readouterr().out
    options = load_weights(run_dir / "export" / "cs_sc_40.pt").options
    assert (options["scale"], options["init_l1"], options["code_init"]) == (1.0, 1e-4, "zero")
    # the mask comes from today's --rate: another one is a one-line error
    other = tuple("30" if a == "40" else a for a in args)
    assert _main(*other, "--epochs", "3", "--resume") == 2
    assert "--rate 40 (now 30)" in capsys.readouterr().err


def test_warm_start_keeps_first_stage_record(trained, tmp_path):
    from stereo_tv.mri import load_weights

    _, data, run_dir = trained
    first = run_dir / "export" / "cs_tv_30.pt"
    second = tmp_path / "ft"
    assert _main("train", "--config", str(REPO / "configs/mri/smoke.yaml"), "--data", str(data),
                 "--rate", "30", "--run-dir", str(second), "--epochs", "1", "--init-from",
                 str(first), "--log-images-every", "0") == 0
    meta = load_weights(second / "export" / "cs_tv_30.pt").meta
    assert meta["warm_start"]["path"] == str(first)
    assert meta["train_seconds_total"] >= meta["train_seconds"] + load_weights(first).meta[
        "train_seconds"] - 0.2
