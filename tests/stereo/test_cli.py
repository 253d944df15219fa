"""scripts/predict.py and scripts/eval_stereo.py run as subprocesses: outputs and bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import assert_user_error

from stereo_tv.io import write_kitti_disp

from .conftest import make_pair, run_script, write_rgb

H, W = 256, 320


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    left, right = make_pair(H, W)
    return write_rgb(root / "L.png", left), write_rgb(root / "R.png", right)


def _assert_user_error(proc, *fragments):
    assert_user_error(proc, *fragments, single_line=False)


def test_predict_writes_npy_kitti_png_and_colour(tmp_path, pair, random_checkpoint):
    out = tmp_path / "out"
    proc = run_script("predict.py", "--left", str(pair[0]), "--right", str(pair[1]),
                      "--out", str(out), "--maxdisp", "64", "--device", "cpu", "--confidence",
                      env_extra={"STEREO_TV_PSMNET": str(random_checkpoint)})
    assert proc.returncode == 0, proc.stderr
    assert " s on cpu" in proc.stdout
    disp = np.load(out / "L_disp.npy")
    assert disp.dtype == np.float32 and disp.shape == (H, W) and np.isfinite(disp).all()
    png = cv2.imread(str(out / "L_disp.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and np.abs(png / 256.0 - disp).max() <= 1 / 512 + 1e-6
    colour = cv2.imread(str(out / "L_disp_color.png"))
    assert colour.shape == (H, W, 3)
    assert np.load(out / "L_conf.npy").shape == (H, W)
    assert sorted(p.name for p in out.iterdir()) == [
        "L_conf.npy", "L_disp.npy", "L_disp.png", "L_disp_color.png"]


def test_predict_writes_pointcloud_and_render(tmp_path, pair, random_checkpoint):
    out = tmp_path / "out"
    proc = run_script("predict.py", "--left", str(pair[0]), "--right", str(pair[1]),
                      "--out", str(out), "--maxdisp", "64", "--device", "cpu",
                      "--pointcloud", str(out / "cloud.ply"), "--render", str(out / "cloud.png"),
                      "--focal", "300", "--baseline", "0.5",
                      env_extra={"STEREO_TV_PSMNET": str(random_checkpoint)})
    assert proc.returncode == 0, proc.stderr
    assert "points to" in proc.stdout and "rendered" in proc.stdout
    assert (out / "cloud.ply").stat().st_size > 0
    picture = cv2.imread(str(out / "cloud.png"))
    assert picture is not None and picture.std() > 0


def test_predict_pointcloud_without_camera_is_a_user_error(tmp_path, pair, random_checkpoint):
    out = tmp_path / "out"
    proc = run_script("predict.py", "--left", str(pair[0]), "--right", str(pair[1]),
                      "--out", str(out), "--maxdisp", "64", "--pointcloud", str(out / "c.ply"),
                      env_extra={"STEREO_TV_PSMNET": str(random_checkpoint)})
    _assert_user_error(proc, "needs a camera")
    assert not out.exists()


def _bad_inputs(tmp, pair, ckpt):
    left, right = pair
    small = write_rgb(tmp / "small.png", make_pair(200, 230)[0])
    narrow = write_rgb(tmp / "narrow.png", make_pair(H, W - 8)[0])
    corrupt = tmp / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    other = tmp / "other.tar"
    torch.save({"state_dict": torch.nn.Linear(4, 2).state_dict()}, other)
    broken = tmp / "broken.tar"
    broken.write_bytes(ckpt.read_bytes()[:5000])
    w = ["--weights", str(ckpt)]
    return {
        "size mismatch": (["--left", left, "--right", narrow, *w], ["differ in size"]),
        "missing file": (["--left", tmp / "nope.png", "--right", right, *w],
                         ["not found", "nope.png"]),
        "corrupt image": (["--left", corrupt, "--right", right, *w], ["corrupt", "corrupt.png"]),
        "too small": (["--left", small, "--right", small, *w], ["too small"]),
        "other model": (["--left", left, "--right", right, "--weights", other],
                        ["not a PSMNet", "missing keys [feature_extraction.firstconv",
                         "unexpected keys [weight, bias]"]),
        "corrupt checkpoint": (["--left", left, "--right", right, "--weights", broken],
                               ["is corrupt or not a PyTorch file", "broken.tar"]),
        "no weights": (["--left", left, "--right", right], ["STEREO_TV_PSMNET"]),
    }


CASES = ["size mismatch", "missing file", "corrupt image", "too small", "other model",
         "corrupt checkpoint", "no weights"]


@pytest.mark.parametrize("case", CASES)
def test_predict_bad_input_exits_2_and_writes_nothing(tmp_path, pair, random_checkpoint, case):
    args, fragments = _bad_inputs(tmp_path, pair, random_checkpoint)[case]
    out = tmp_path / "out"
    proc = run_script("predict.py", *map(str, args), "--out", str(out), "--maxdisp", "64")
    _assert_user_error(proc, *fragments)
    assert not out.exists() or not any(out.iterdir())


def _fake_kitti(root, frames=(0, 170)):
    for i in frames:
        left, right = make_pair(H, W, shift=6, seed=i)
        write_rgb(root / "training" / "image_2" / f"{i:06d}_10.png", left)
        write_rgb(root / "training" / "image_3" / f"{i:06d}_10.png", right)
        (root / "training" / "disp_occ_0").mkdir(parents=True, exist_ok=True)
        write_kitti_disp(root / "training" / "disp_occ_0" / f"{i:06d}_10.png",
                         np.full((H, W), 6.0, np.float32))
    return root


def test_eval_writes_table_json_and_kitti_pngs(tmp_path, random_checkpoint):
    root = _fake_kitti(tmp_path / "kitti")
    proc = run_script("eval_stereo.py", "--dataset", "kitti2015", "--root", str(root),
                      "--split", "val", "--weights", str(random_checkpoint), "--maxdisp", "64",
                      "--json", str(tmp_path / "r.json"), "--save-kitti", str(tmp_path / "sub"),
                      "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "000170_10" in proc.stdout and "mean" in proc.stdout and "000000_10" not in proc.stdout
    result = json.loads((tmp_path / "r.json").read_text())
    assert [f["name"] for f in result["frames"]] == ["000170_10"]
    keys = {"epe", "d1", "bad1", "bad2", "bad3", "seconds"}
    assert set(result["frames"][0]) == keys | {"name"} and set(result["mean"]) == keys
    assert 0 <= result["mean"]["d1"] <= 100 and result["mean"]["bad1"] >= result["mean"]["bad3"]
    png = cv2.imread(str(tmp_path / "sub" / "000170_10.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (H, W)


def test_eval_bad_input(tmp_path, random_checkpoint):
    root = _fake_kitti(tmp_path / "kitti", frames=(1,))
    w = ["--weights", str(random_checkpoint)]
    _assert_user_error(run_script("eval_stereo.py", "--dataset", "kitti2015", "--root",
                                  str(root), "--split", "val", *w), "no val frames")
    _assert_user_error(run_script("eval_stereo.py", "--dataset", "kitti2015", "--root",
                                  str(tmp_path / "absent"), *w), "folder not found")
    (root / "training" / "disp_occ_0" / "000001_10.png").unlink()
    _assert_user_error(run_script("eval_stereo.py", "--dataset", "kitti2015", "--root",
                                  str(root), *w, "--json", str(tmp_path / "r.json")),
                       "not found", "000001_10.png")
    assert not (tmp_path / "r.json").exists()


def test_predict_tv_iters_uses_the_shipped_head(tmp_path, pair, random_checkpoint):
    out = tmp_path / "out"
    proc = run_script("predict.py", "--left", str(pair[0]), "--right", str(pair[1]),
                      "--out", str(out), "--maxdisp", "64", "--tv-iters", "24",
                      env_extra={"STEREO_TV_PSMNET": str(random_checkpoint)})
    assert proc.returncode == 0, proc.stderr
    assert "RefinedStereo" in proc.stdout
    assert np.isfinite(np.load(out / "L_disp.npy")).all()


def test_predict_tv_iters_without_a_shipped_head_lists_them(tmp_path, pair, random_checkpoint):
    proc = run_script("predict.py", "--left", str(pair[0]), "--right", str(pair[1]),
                      "--out", str(tmp_path / "out"), "--maxdisp", "64", "--tv-iters", "7",
                      env_extra={"STEREO_TV_PSMNET": str(random_checkpoint)})
    _assert_user_error(proc, "no shipped psmnet head with 7 iterations", "psmnet_tv24_extra")
