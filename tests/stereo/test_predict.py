"""predict_disparity: normalization, padding and cropping, image modes, size and memory checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stereo_tv.cli import UserError
from stereo_tv.data import IMAGENET_MEAN, IMAGENET_STD
from stereo_tv.models import PSMNet
from stereo_tv.predict import pad_to_multiple, predict_disparity, predict_tensor


class EchoRed(nn.Module):
    """Fake backbone: 'disparity' = the normalized red channel; records the input size."""

    size_multiple = 16
    min_size = 0

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen = None

    def forward(self, left, right, return_confidence=False):
        self.seen = tuple(left.shape)
        disp = left[:, :1] * self.scale
        return (disp, torch.ones_like(disp)) if return_confidence else disp


class Constant(EchoRed):
    def forward(self, left, right, return_confidence=False):
        return torch.full_like(left[:, :1], 8.0)


def _red(h, w, seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return img, (img[..., 0] / 255.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]


def test_pad_to_multiple_pads_top_and_right_with_zeros():
    x = torch.ones(1, 1, 3, 5)
    y, (top, right) = pad_to_multiple(x, 4)
    assert y.shape == (1, 1, 4, 8) and (top, right) == (1, 3)
    assert y[0, 0, 0].sum() == 0 and y[0, 0, :, 5:].sum() == 0 and y[0, 0, 1:, :5].eq(1).all()
    same, pads = pad_to_multiple(torch.ones(1, 1, 16, 32))
    assert pads == (0, 0) and same.shape == (1, 1, 16, 32)


def test_normalization_padding_and_crop_back():
    model = EchoRed()
    left, expected = _red(9, 7)
    disp = predict_disparity(model, left, left.copy())
    assert model.seen == (1, 3, 16, 16)
    assert disp.dtype == np.float32 and disp.shape == (9, 7)
    assert np.allclose(disp, expected, atol=1e-5)
    assert model.training  # mode restored


def test_grayscale_is_replicated_with_a_warning_and_rgba_drops_alpha():
    gray = np.random.default_rng(0).integers(0, 256, (9, 7), dtype=np.uint8)
    with pytest.warns(UserWarning, match="grayscale"):
        disp = predict_disparity(EchoRed(), gray, gray)
    assert np.allclose(disp, (gray / 255.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], atol=1e-5)
    rgb, expected = _red(9, 7)
    rgba = np.dstack([rgb, np.zeros((9, 7), np.uint8)])
    assert np.allclose(predict_disparity(EchoRed(), rgba, rgba), expected, atol=1e-5)


def test_bad_pairs_are_rejected():
    a = np.zeros((9, 7, 3), np.uint8)
    with pytest.raises(UserError, match="differ in size: 7x9 vs 8x9"):
        predict_disparity(EchoRed(), a, np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(UserError, match="must be uint8"):
        predict_disparity(EchoRed(), a.astype(np.float32), a)
    with pytest.raises(UserError, match="\\(H, W, 4\\)"):
        predict_disparity(EchoRed(), np.zeros((9, 7, 2), np.uint8), a)


def test_max_size_rescales_the_disparity():
    model = Constant()
    img = np.zeros((40, 64, 3), np.uint8)
    disp = predict_disparity(model, img, img, max_size=32)
    assert disp.shape == (40, 64)
    assert np.allclose(disp, 8.0 * 2)  # half-size disparity 8 is 16 px at full size


def test_confidence_is_returned_and_cropped():
    disp, conf = predict_disparity(EchoRed(), *(_red(9, 7)[0],) * 2, return_confidence=True)
    assert conf.shape == disp.shape == (9, 7) and conf.dtype == np.float32


def test_too_small_for_psmnet_and_memory_guard():
    model = PSMNet(maxdisp=16).eval()
    small = np.zeros((200, 300, 3), np.uint8)
    with pytest.raises(UserError, match="too small for PSMNet.*at least 241x241"):
        predict_disparity(model, small, small)
    wide = np.zeros((375, 1242, 3), np.uint8)
    with pytest.raises(UserError, match="max_size 640 shrinks the 1242x375 pair to 640x193"):
        predict_disparity(model, wide, wide, max_size=640)
    big = torch.zeros(1, 3, 4000, 6000)
    with pytest.raises(UserError, match="needs about .* GiB .*--max-size"):
        predict_tensor(model, big, big, memory_limit=2**30)
