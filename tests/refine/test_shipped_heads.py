"""Shipped TV heads: small files with their training command, loadable, and (with ../shared)
no worse than their backbone on held-out real frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stereo_tv.cli import UserError
from stereo_tv.data.transforms import image_to_tensor
from stereo_tv.io import read_disparity, read_image
from stereo_tv.metrics import mean_metrics, stereo_metrics
from stereo_tv.refine import (
    SHIPPED_DIR,
    TVRefine,
    load_head,
    read_head,
    shipped_head_for,
    shipped_heads,
)

MAIN = ("psmnet_tv24_extra", "sgbm_tv24_extra_guided")


def test_main_heads_are_shipped_small_and_documented():
    names = shipped_heads()
    assert set(MAIN) <= set(names)
    readme = (SHIPPED_DIR / "README.md").read_text()
    for name in names:
        path = SHIPPED_DIR / f"{name}.pt"
        assert path.stat().st_size < 16 * 1024, name
        data = read_head(name)
        assert data["train"]["command"].startswith("python scripts/finetune_kitti.py"), name
        assert name in readme
        head = load_head(name)
        assert isinstance(head, TVRefine) and not head.training
        assert all(torch.isfinite(p).all() for p in head.parameters())


def test_shipped_head_for_picks_extragradient_and_lists_names():
    assert shipped_head_for("psmnet", 24) == "psmnet_tv24_extra"
    assert read_head(shipped_head_for("psmnet", 12))["config"]["iters"] == 12
    with pytest.raises(UserError, match="shipped: .*psmnet_tv24_extra"):
        shipped_head_for("psmnet", 7)
    with pytest.raises(UserError, match="no shipped head 'nope'"):
        load_head("nope")


@pytest.mark.shared
@pytest.mark.parametrize("maxdisp", [80, 192])   # the demo's setting, the training setting
def test_sgbm_head_on_held_out_motorcycle(shared, maxdisp):
    """The SGBM head never saw Motorcycle (trained on the KITTI 2012 / SceneFlow frames); it
    lowers EPE, D1 and the 3-px error there (stereo_tv/weights/stereo/README.md)."""
    from stereo_tv.models.classical import SGBMBackbone

    scene = shared("data", "middlebury", "Motorcycle_skimage")
    left, right = read_image(scene / "im0.png"), read_image(scene / "im1.png")
    gt, valid = read_disparity(scene / "disp0GT.pfm")
    lt, rt = image_to_tensor(left)[None], image_to_tensor(right)[None]
    backbone = SGBMBackbone(maxdisp=maxdisp, block_size=5)
    disp, conf = backbone(lt, rt, return_confidence=True)
    with torch.inference_mode():
        refined = load_head("sgbm_tv24_extra_guided")(disp, image=lt, confidence=conf)
    raw_m = stereo_metrics(disp[0, 0], gt, valid)
    ref_m = stereo_metrics(refined[0, 0], gt, valid)
    for key in ("epe", "d1", "bad3"):
        assert ref_m[key] < raw_m[key], (key, raw_m, ref_m)
    assert ref_m["epe"] == pytest.approx({80: 1.695, 192: 3.046}[maxdisp], abs=2e-3)


@pytest.mark.shared
def test_psmnet_head_on_reference_outputs_is_no_worse(shared):
    """PSMNet outputs recorded by the original release (../shared/reference) + the shipped head,
    on KITTI 2012 x2 and Motorcycle: mean EPE, D1 and 3-px error do not get worse."""
    ref = shared("reference", "psmnet_kitti2015")
    data = shared("data")
    frames = {
        "kitti12_000000": ("kitti2012/training/colored_0/000000_10.png",
                           "kitti2012/training/disp_occ/000000_10.png"),
        "kitti12_000001": ("kitti2012/training/colored_0/000001_10.png",
                           "kitti2012/training/disp_occ/000001_10.png"),
        "motorcycle": ("middlebury/Motorcycle_skimage/im0.png",
                       "middlebury/Motorcycle_skimage/disp0GT.pfm"),
    }
    head = load_head("psmnet_tv24_extra")
    raw_rows, rows = [], []
    for name, (image, gt_path) in frames.items():
        disp = torch.from_numpy(np.load(ref / f"{name}.npy"))[None, None]
        gt, valid = read_disparity(data / gt_path)
        left = image_to_tensor(read_image(data / image))[None]
        with torch.inference_mode():
            out = head(disp, image=left, confidence=torch.ones_like(disp))
        raw_rows.append(stereo_metrics(disp[0, 0], gt, valid))
        rows.append(stereo_metrics(out[0, 0], gt, valid))
    raw, refined = mean_metrics(raw_rows), mean_metrics(rows)
    for key in ("epe", "d1", "bad3"):
        assert refined[key] <= raw[key] + 1e-6, (key, raw, refined)
