"""Image folders / npy stacks on fakes with the real naming, the ChestTrain split, PSNR."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from stereo_tv.mri import MRIImages, chest_split, psnr
from stereo_tv.mri.data import CHEST_SPLIT_FILE


def _fake_chest(tmp_path, n=5, size=(12, 10)):
    rng = np.random.default_rng(0)
    stack = rng.random((n, *size)).astype(np.float32)
    png = tmp_path / "png"
    png.mkdir()
    for i, img in enumerate(stack):
        cv2.imwrite(str(png / f"chest_train_{i + 1:03d}.png"), np.round(img * 255).astype(np.uint8))
    np.save(tmp_path / "chest_train_float32.npy", stack)
    return png, tmp_path / "chest_train_float32.npy", stack


def test_png_folder_and_stack(tmp_path):
    png, npy, stack = _fake_chest(tmp_path)
    a, b = MRIImages(png), MRIImages(npy)
    assert len(a) == len(b) == 5
    assert a.names[0] == "chest_train_001" and b.names[4] == "chest_train_float32_005"
    item = a[2]
    assert item["image"].shape == (1, 12, 10) and item["image"].dtype == torch.float32
    np.testing.assert_allclose(item["image"][0].numpy(), stack[2], atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(b[2]["image"][0].numpy(), stack[2])
    assert a.sizes() == {(12, 10)}


def test_sixteen_bit_png_and_single_npy(tmp_path):
    img = np.array([[0, 65535], [32768, 1]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    np.save(tmp_path / "b.npy", np.full((2, 2), 0.25, dtype=np.float64))
    ds = MRIImages(tmp_path)
    assert ds.names == ["a", "b"]
    assert ds[0]["image"].max() == 1.0 and float(ds[1]["image"].mean()) == 0.25


def test_augment_keeps_values(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(16, dtype=np.float32).reshape(4, 4) / 15)
    ds = MRIImages(tmp_path, augment=True)
    for _ in range(5):
        out = ds[0]["image"]
        assert out.shape == (1, 4, 4) and sorted(out.flatten().tolist()) == sorted(
            ds.images[0].flatten().tolist())


def test_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="data not found"):
        MRIImages(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no .png or .npy"):
        MRIImages(tmp_path)


def test_chest_split_file_by_name_and_position():
    split = json.loads(CHEST_SPLIT_FILE.read_text())
    names = [f"chest_train_{i:03d}" for i in range(1, 101)]
    train, val = chest_split(names)
    assert len(train) == 80 and len(val) == 20 and val == list(range(80, 100))
    stacked = [f"chest_train_float32_{i:03d}" for i in range(1, 101)]
    assert chest_split(stacked) == (train, val)
    assert split["val_names"][0] == "chest_train_081"
    with pytest.raises(ValueError, match="not ChestTrain"):
        chest_split(["a", "b"])


def test_psnr_known_values():
    ref = torch.zeros(2, 1, 3, 5)
    x = ref.clone()
    x[0] += 0.1                                      # mse 0.01 -> 20 dB
    x[1, 0, 0, 0] = 1.0                              # mse 1/15 -> 11.76 dB
    out = psnr(x, ref)
    assert out.shape == (2,)
    assert float(out[0]) == pytest.approx(20.0, abs=1e-4)
    assert float(out[1]) == pytest.approx(10 * np.log10(15), abs=1e-4)


@pytest.mark.shared
def test_real_chesttrain(shared):
    root = shared("data", "mri", "ChestTrain")
    png, npy = MRIImages(root / "png"), MRIImages(root / "chest_train_float32.npy")
    assert len(png) == len(npy) == 100 and png.sizes() == {(256, 256)}
    assert chest_split(png.names) == chest_split(npy.names)
    diff = np.abs(png.images[80] - npy.images[80]).max()
    assert diff <= 0.5 / 255 + 1e-6                  # PNG = round(255 * float)
