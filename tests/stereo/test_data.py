"""Stereo datasets on fake trees with the real file names, splits and joint augmentation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from stereo_tv.cli import UserError
from stereo_tv.data import (
    JointAugment,
    build_dataset,
    image_to_tensor,
    read_split,
    tensor_to_image,
)
from stereo_tv.io import write_kitti_disp, write_pfm

H, W = 24, 40


def _rgb(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _ramp(value=10.0):
    disp = np.tile(np.linspace(1, value, W, dtype=np.float32), (H, 1))
    disp[0, :5] = 0  # no ground truth
    return disp


def make_kitti(root, layout, frames=(0, 1, 170), noc=True):
    left, right, occ, noc_dir = layout
    for i in frames:
        name = f"{i:06d}_10.png"
        _write(root / "training" / left / name, _rgb(i))
        _write(root / "training" / right / name, _rgb(i + 100))
        _write(root / "training" / left / f"{i:06d}_11.png", _rgb(i))  # next frame: ignored
        (root / "training" / occ).mkdir(parents=True, exist_ok=True)
        write_kitti_disp(root / "training" / occ / name, _ramp())
        if noc:
            (root / "training" / noc_dir).mkdir(parents=True, exist_ok=True)
            d = _ramp()
            d[:, -3:] = 0  # occluded
            write_kitti_disp(root / "training" / noc_dir / name, d)
    return root


KITTI15 = ("image_2", "image_3", "disp_occ_0", "disp_noc_0")
KITTI12 = ("colored_0", "colored_1", "disp_occ", "disp_noc")


@pytest.mark.parametrize("name,layout", [("kitti2015", KITTI15), ("kitti2012", KITTI12)])
def test_kitti_items_and_splits(tmp_path, name, layout):
    root = make_kitti(tmp_path / name, layout)
    ds = build_dataset(name, root)
    assert [f.name for f in ds.frames] == ["000000_10", "000001_10", "000170_10"]
    item = ds[0]
    assert set(item) == {"left", "right", "disp", "valid", "noc", "name"}
    assert item["left"].shape == (3, H, W) and item["left"].dtype == torch.float32
    assert item["disp"].shape == (1, H, W) and item["valid"].dtype == torch.bool
    assert not item["valid"][0, 0, :5].any() and item["valid"][0, 1].all()
    assert item["noc"][0, 1, :-3].all() and not item["noc"][0, 1, -3:].any()
    assert torch.allclose(item["disp"][0, 5], torch.from_numpy(_ramp()[5]), atol=1 / 256)
    assert np.array_equal(tensor_to_image(item["left"]), _rgb(0))
    assert [f.name for f in build_dataset(name, root, split="train").frames] == \
        ["000000_10", "000001_10"]
    assert [f.name for f in build_dataset(name, root / "training", split="val").frames] == \
        ["000170_10"]


def test_kitti_without_noc_has_no_noc_key(tmp_path):
    root = make_kitti(tmp_path / "k", KITTI15, frames=(3,), noc=False)
    ds = build_dataset("kitti2015", root)
    assert ds.has_gt and not ds.has_noc and "noc" not in ds[0]


def test_kitti_errors(tmp_path):
    with pytest.raises(UserError, match="image_2 folder not found"):
        build_dataset("kitti2015", tmp_path)
    root = make_kitti(tmp_path / "k", KITTI15, frames=(3,))
    with pytest.raises(UserError, match="no val frames"):
        build_dataset("kitti2015", root, split="val")
    with pytest.raises(UserError, match="unknown dataset 'kitti'; valid: kitti2015"):
        build_dataset("kitti", root)


def test_split_files_are_sorted_disjoint_and_sized():
    for name, (n_train, n_val) in {"kitti2015": (160, 40), "kitti2012": (160, 34)}.items():
        train, val = read_split(f"{name}_train"), read_split(f"{name}_val")
        assert (len(train), len(val)) == (n_train, n_val)
        assert train == sorted(train) and val == sorted(val) and not set(train) & set(val)
        assert train[0] == "000000_10" and val[0] == "000160_10"


def _make_sceneflow(root):
    def frame(seq, idx):
        for side in ("left", "right"):
            _write(root / "frames_cleanpass" / seq / side / f"{idx}.png", _rgb(len(seq)))
        (root / "disparity" / seq / "left").mkdir(parents=True, exist_ok=True)
        write_pfm(root / "disparity" / seq / "left" / f"{idx}.pfm", _ramp(30.0) + 1)
    return frame


def test_sceneflow_layouts_and_split(tmp_path):
    _make_sceneflow(tmp_path / "flyingthings3d")("TRAIN/A/0000", "0006")
    _make_sceneflow(tmp_path / "flyingthings3d")("TEST/C/0149", "0010")
    _make_sceneflow(tmp_path / "driving")("35mm_focallength/scene_forwards/fast", "0001")
    _make_sceneflow(tmp_path / "monkaa")("a_rain_of_stones_x2", "0000")
    ds = build_dataset("sceneflow", tmp_path)
    assert [f.name for f in ds.frames] == [
        "driving/35mm_focallength/scene_forwards/fast/0001",
        "flyingthings3d/TEST/C/0149/0010",
        "flyingthings3d/TRAIN/A/0000/0006",
        "monkaa/a_rain_of_stones_x2/0000",
    ]
    assert [f.name for f in build_dataset("sceneflow", tmp_path, split="val").frames] == [
        "flyingthings3d/TEST/C/0149/0010"]
    assert len(build_dataset("sceneflow", tmp_path, split="train")) == 3
    one = build_dataset("sceneflow", tmp_path / "monkaa")
    item = one[0]
    assert item["name"] == "a_rain_of_stones_x2/0000" and item["valid"].all()
    assert torch.allclose(item["disp"][0], torch.from_numpy(_ramp(30.0) + 1))
    with pytest.raises(UserError, match="frames_finalpass"):
        build_dataset("sceneflow", tmp_path, pass_="final")


def test_middlebury_inf_invalid_and_scenes_without_gt_skipped(tmp_path):
    for scene in ("Motorcycle", "Bowling_noGT"):
        _write(tmp_path / scene / "im0.png", _rgb(1))
        _write(tmp_path / scene / "im1.png", _rgb(2))
    gt = _ramp(20.0)
    gt[3, 3] = np.inf
    write_pfm(tmp_path / "Motorcycle" / "disp0GT.pfm", gt)
    ds = build_dataset("middlebury", tmp_path)
    assert [f.name for f in ds.frames] == ["Motorcycle"]
    item = ds[0]
    assert not item["valid"][0, 3, 3] and item["disp"][0, 3, 3] == 0 and item["valid"][0, 4].all()
    with pytest.raises(UserError, match="no 'train' split"):
        build_dataset("middlebury", tmp_path, split="train")


def test_folder_pairs_with_and_without_disparity(tmp_path):
    for stem in ("b", "a"):
        _write(tmp_path / "left" / f"{stem}.png", _rgb(3))
        _write(tmp_path / "right" / f"{stem}.png", _rgb(4))
    ds = build_dataset("folder", tmp_path)
    assert [f.name for f in ds.frames] == ["a", "b"] and not ds.has_gt
    assert set(ds[0]) == {"left", "right", "name"}
    (tmp_path / "disp").mkdir()
    np.save(tmp_path / "disp" / "a.npy", _ramp())
    with pytest.raises(UserError, match="no disparity for b.png"):
        build_dataset("folder", tmp_path)
    write_pfm(tmp_path / "disp" / "b.pfm", _ramp())
    assert build_dataset("folder", tmp_path)[1]["disp"].shape == (1, H, W)


def test_size_mismatch_is_reported(tmp_path):
    _write(tmp_path / "left" / "x.png", _rgb(0))
    _write(tmp_path / "right" / "x.png", _rgb(0)[:, :-1])
    with pytest.raises(UserError, match="differ in size"):
        build_dataset("folder", tmp_path)[0]


def _coordinate_sample():
    """Images and disparity whose values encode the pixel position, to check the crop window."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.dstack([yy / H, xx / W, np.full_like(xx, 0.5)])
    return {"name": "c", "left": img, "right": img.copy(), "disp": yy * 100 + xx,
            "valid": (xx % 2 == 0)}


def test_joint_crop_is_the_same_window_everywhere():
    aug = JointAugment(crop=(8, 16), brightness=0, contrast=0, saturation=0)
    out = aug(_coordinate_sample(), np.random.default_rng(3))
    top, left = divmod(int(out["disp"][0, 0]), 100)
    assert out["disp"].shape == out["valid"].shape == (8, 16)
    assert out["left"].shape == out["right"].shape == (8, 16, 3)
    yy, xx = np.mgrid[top:top + 8, left:left + 16]
    assert np.array_equal(out["disp"], yy * 100 + xx)
    assert np.array_equal(out["valid"], xx % 2 == 0)
    assert np.allclose(out["left"][..., 1], xx / W) and np.allclose(out["right"][..., 0], yy / H)


def test_colour_jitter_is_shared_by_both_views_and_seeded(tmp_path):
    aug = JointAugment(crop=None, brightness=0.3, contrast=0.3, saturation=0.3)
    sample = _coordinate_sample()
    a = aug(sample, np.random.default_rng(7))
    b = aug(sample, np.random.default_rng(7))
    assert np.array_equal(a["left"], b["left"]) and np.array_equal(a["left"], a["right"])
    assert not np.allclose(a["left"], sample["left"])
    assert a["left"].min() >= 0 and a["left"].max() <= 1


def test_dataset_augmentation_depends_on_seed_epoch_and_index(tmp_path):
    root = make_kitti(tmp_path / "k", KITTI15, frames=(0,))
    aug = JointAugment(crop=(16, 16))
    ds = build_dataset("kitti2015", root, augment=aug, seed=1)
    first, again = ds[0], ds[0]
    assert first["left"].shape == (3, 16, 16) and first["disp"].shape == (1, 16, 16)
    assert torch.equal(first["left"], again["left"])
    ds.set_epoch(1)
    assert not torch.equal(first["left"], ds[0]["left"])
    with pytest.raises(ValueError, match="larger than the image"):
        JointAugment(crop=(256, 512))(_coordinate_sample(), np.random.default_rng(0))


def test_image_to_tensor_normalizes():
    x = image_to_tensor(np.zeros((2, 3, 3), np.uint8))
    assert x.shape == (3, 2, 3)
    assert torch.allclose(x[:, 0, 0], torch.tensor([-0.485 / 0.229, -0.456 / 0.224,
                                                     -0.406 / 0.225]))
