"""Weight files: export / load round trip, stored self-check PSNR, shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stereo_tv.denoising import (
    TinyCNN,
    WeightsError,
    load_weights,
    model_family,
    read_weights,
    save_weights,
    shipped_models,
    shipped_sigmas,
    synthetic_image,
)
from stereo_tv.denoising._weights import SHIPPED_DIR, check_psnr


def test_synthetic_image_is_deterministic():
    np.testing.assert_array_equal(synthetic_image(), synthetic_image())


def test_roundtrip_reproduces_output_and_check_psnr(tmp_path):
    net = TinyCNN((5, 5))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    blob = save_weights(tmp_path / "w.pt", net, "tinycnn-326", 25.0, val={"set12/psnr": 1.0})
    model, meta = load_weights(tmp_path / "w.pt")
    x = torch.rand(1, 1, 9, 7)
    torch.testing.assert_close(model(x), net.eval()(x))
    assert meta["check"]["psnr"] == pytest.approx(blob["check"]["psnr"])
    assert check_psnr(model, 25.0) == pytest.approx(meta["check"]["psnr"], abs=1e-6)


def test_corrupt_and_foreign_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(WeightsError, match="is corrupt or not a PyTorch file"):
        read_weights(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(WeightsError, match="not a stereo_tv.denoise"):
        read_weights(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        read_weights(tmp_path / "absent.pt")


SHIPPED = sorted(SHIPPED_DIR.glob("*.pt"))


@pytest.mark.skipif(not SHIPPED, reason="no shipped denoising weights yet")
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_weights_reproduce_their_check_psnr(path):
    model, meta = load_weights(path)
    assert path.name == f"{meta['model']}_sigma{meta['sigma']:g}.pt"
    assert meta["sigma"] in shipped_sigmas(meta["model"]) and meta["model"] in shipped_models()
    # pixel games hold hundreds of numbers; patch games three 81x256 dictionaries
    assert path.stat().st_size < (400_000 if model_family(meta["model"]) == "patch" else 64_000)
    assert check_psnr(model, meta["sigma"]) == pytest.approx(meta["check"]["psnr"], abs=1e-3)


def test_a_weight_file_of_another_kind_is_named_as_such():
    """An MRI weight file given to the denoiser: its kind in one line, not 'corrupt'."""
    from stereo_tv.denoising._weights import WeightsError, read_weights
    from stereo_tv.mri.pretrained import WEIGHTS_DIR
    path = WEIGHTS_DIR / "cs_tv_20.pt"
    with pytest.raises(WeightsError, match=r"a mri weights file \(stereo_tv.mri/1, model "
                                           r"'cs-tv'\), not a denoising one"):
        read_weights(path)
