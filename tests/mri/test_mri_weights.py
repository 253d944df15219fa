"""Shipped CS-MRI weights: every file loads, carries its mask, and beats zero-filling."""

from __future__ import annotations

import pytest
import torch

from stereo_tv.cli import UserError
from stereo_tv.mri import MRIImages, build_model, chest_split, psnr, radial_mask, sampling_rate
from stereo_tv.mri.pretrained import (
    WEIGHTS_DIR,
    available_weights,
    export_weights,
    load_pretrained,
    load_weights,
)

SHIPPED = [(m, r) for m, rates in available_weights().items() for r in rates]


def test_export_load_roundtrip(tmp_path):
    model = build_model("cs-tv", radial_mask(16, 12, 0.3), iters=3)
    with torch.no_grad():
        model.game.weight.add_(0.01)
    path = export_weights(model, tmp_path / "cs_tv_30.pt", kwargs={"iters": 3}, rate=30,
                          meta={"command": "test"})
    back = load_weights(path)
    assert back.meta["rate"] == 30 and back.meta["command"] == "test" and not back.training
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    assert available_weights(tmp_path) == {"cs-tv": [30]}


def test_missing_rate_lists_available(tmp_path):
    export_weights(build_model("cs-tv", radial_mask(8, 8, 0.5), iters=1), tmp_path / "cs_tv_50.pt",
                   kwargs={"iters": 1}, rate=50)
    with pytest.raises(UserError, match=r"rate 20%; available: cs-tv: 50%"):
        load_pretrained("cs-tv", 20, root=tmp_path)


def test_bad_file(tmp_path):
    (tmp_path / "x.pt").write_text("not a checkpoint")
    with pytest.raises(UserError, match="is corrupt or not a PyTorch file"):
        load_weights(tmp_path / "x.pt")


def test_a_denoising_file_is_named_as_such(tmp_path):
    from stereo_tv.denoising import build_model as build_denoiser
    from stereo_tv.denoising._weights import save_weights
    path = tmp_path / "tv.pt"
    save_weights(path, build_denoiser("tv-asym-eg", 25.0, iters=2), "tv-asym-eg", 25.0)
    with pytest.raises(UserError, match=r"a denoise weights file \(stereo_tv.denoise/1, model "
                                        r"'tv-asym-eg'\), not an MRI one"):
        load_weights(path)


def test_weights_dir_has_split_file():
    assert (WEIGHTS_DIR / "chest_split.json").is_file()


@pytest.mark.skipif(not SHIPPED, reason="no shipped MRI weights yet")
@pytest.mark.parametrize("model_name, rate", SHIPPED)
def test_shipped_weights_load(model_name, rate):
    model = load_pretrained(model_name, rate)
    assert model.meta["rate"] == rate and model.name == model_name
    assert abs(100 * sampling_rate(model.operator.mask) - rate) < 1.0
    assert model.operator.mask.shape == (256, 256)
    assert {"command", "train_seconds", "val_psnr"} <= set(model.meta)


@pytest.mark.shared
@pytest.mark.skipif(not SHIPPED, reason="no shipped MRI weights yet")
@pytest.mark.parametrize("model_name, rate", SHIPPED)
def test_shipped_weights_beat_zero_filling_on_val_image(shared, model_name, rate):
    data = MRIImages(shared("data", "mri", "ChestTrain", "chest_train_float32.npy"))
    _, val = chest_split(data.names)
    img = data[val[0]]["image"][None]
    model = load_pretrained(model_name, rate)
    x = model.operator.measure(img)
    with torch.inference_mode():
        ours = float(psnr(model(x).clamp(0, 1), img)[0])
    zf = float(psnr(model.operator.adjoint(x).clamp(0, 1), img)[0])
    assert ours > zf + 0.5
