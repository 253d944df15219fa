"""PSMNet backbone and adapter: shapes, known values, gradients, checkpoint loading."""

from __future__ import annotations

import pytest
import torch

from stereo_tv.cli import UserError
from stereo_tv.models import PSMNet, psmnet_loss, psmnet_memory_bytes
from thirdparty.psmnet import PSMNetBasic, PSMNetStackHourglass, build_concat_volume
from thirdparty.psmnet.layers import disparity_regression, upsample_cost

SIZE = (256, 256)  # the smallest input: 64 px at quarter resolution for the 64x64 pooling


def _pair(batch=1, size=SIZE, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, *size, generator=g), torch.randn(batch, 3, *size, generator=g))


def test_disparity_regression_one_hot_gives_index():
    prob = torch.zeros(1, 8, 3, 5, dtype=torch.float64)
    prob[:, 5] = 1.0
    out = disparity_regression(prob)
    assert out.dtype == torch.float64 and out.shape == (1, 3, 5)
    assert torch.equal(out, torch.full((1, 3, 5), 5.0, dtype=torch.float64))


def test_disparity_regression_uniform_gives_mean():
    prob = torch.full((2, 4, 1, 1), 0.25)
    assert torch.allclose(disparity_regression(prob), torch.full((2, 1, 1), 1.5))


def test_concat_volume_shifts_right_features():
    ref = torch.arange(7.0).view(1, 1, 1, 7)
    target = 10 + torch.arange(7.0).view(1, 1, 1, 7)
    cost = build_concat_volume(ref, target, levels=3)
    assert cost.shape == (1, 2, 3, 1, 7)
    # slice d: left feature at x, right feature at x - d, zero where x < d
    assert cost[0, 0, 2, 0].tolist() == [0, 0, 2, 3, 4, 5, 6]
    assert cost[0, 1, 2, 0].tolist() == [0, 0, 10, 11, 12, 13, 14]
    assert cost[0, 1, 0, 0].tolist() == target[0, 0, 0].tolist()


@pytest.fixture(scope="module")
def eval_outputs():
    """One random stacked-hourglass PSMNet and its eval outputs on a batch of two pairs."""
    torch.manual_seed(0)
    model = PSMNet(maxdisp=16).eval()
    left, right = _pair(batch=2)
    with torch.inference_mode():
        disp, conf = model(left, right, return_confidence=True)
        single = model(left[1:], right[1:])
    return model, disp, conf, single


def test_eval_shape_range_and_confidence(eval_outputs):
    _, disp, conf, _ = eval_outputs
    assert disp.shape == (2, 1, *SIZE) and conf.shape == (2, 1, *SIZE)
    assert torch.isfinite(disp).all()
    assert disp.min() >= 0 and disp.max() <= 15  # a convex combination of 0..D-1
    assert conf.min() >= 0 and conf.max() <= 1


def test_batch_equals_stack_of_singles(eval_outputs):
    _, disp, _, single = eval_outputs
    assert torch.allclose(disp[1:], single, atol=1e-4)


def test_basic_variant_eval_shape_and_entropy_confidence():
    model = PSMNet(maxdisp=16, variant="basic", confidence="entropy").eval()
    with torch.inference_mode():
        disp, conf = model(*_pair(), return_confidence=True)
    assert disp.shape == (1, 1, *SIZE) and torch.isfinite(disp).all()
    assert conf.min() >= 0 and conf.max() <= 1


def test_align_corners_true_keeps_corner_values():
    cost = torch.arange(8.0).view(1, 1, 2, 2, 2)
    up = upsample_cost(cost, maxdisp=5, size=(3, 3), align_corners=True)
    assert up.shape == (1, 5, 3, 3)
    assert up[0, 0, 0, 0] == 0 and up[0, -1, -1, -1] == 7 and up[0, 2, 1, 1] == 3.5
    shifted = upsample_cost(cost, maxdisp=5, size=(3, 3), align_corners=False)
    assert not torch.allclose(up, shifted)
    model = PSMNet(maxdisp=16, align_corners=False)
    assert model.net.feature_extraction.align_corners is False


def test_training_outputs_and_every_parameter_gets_a_gradient():
    """Training returns three maps and every parameter gets a finite gradient. Batch 2:
    BatchNorm needs more than one value per channel, and at 256x256 the 64x64 pooling branch
    leaves one pixel per image."""
    model = PSMNet(maxdisp=16).train()
    left, right = _pair(batch=2)
    gt = torch.full((2, 1, *SIZE), 5.0)
    outs = model(left, right)
    assert len(outs) == 3 and all(o.shape == (2, 1, *SIZE) for o in outs)
    psmnet_loss(outs, gt, gt > 0, model.loss_weights).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.slow
def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = PSMNet(maxdisp=16).train()
    ckpt = PSMNet(maxdisp=16, use_checkpoint=True).train()
    ckpt.load_state_dict(plain.state_dict())
    left, right = _pair(batch=2)
    grads = []
    for model in (plain, ckpt):
        sum(o.mean() for o in model(left, right)).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-5, rtol=1e-3), name


def test_basic_training_returns_one_output():
    with torch.no_grad():
        outs = PSMNet(maxdisp=16, variant="basic").train()(*_pair(batch=2))
    assert isinstance(outs, tuple) and len(outs) == 1 and outs[0].shape == (2, 1, *SIZE)


def test_loss_weights_and_empty_mask():
    pred = (torch.ones(1, 1, 2, 3, requires_grad=True),)
    gt = torch.zeros(1, 1, 2, 3)
    loss = psmnet_loss(pred, gt, torch.zeros_like(gt, dtype=torch.bool), weights=(1.0,))
    assert loss.item() == 0.0
    loss.backward()
    # smooth L1 of an error of 1 is 0.5
    assert psmnet_loss(pred, gt, gt == 0, weights=(1.0,)).item() == pytest.approx(0.5)


@pytest.mark.parametrize("shape", [(1, 3, 250, 256), (1, 3, 240, 256), (1, 1, 256, 256)])
def test_bad_input_shapes_are_rejected(shape):
    x = torch.zeros(shape)
    with pytest.raises(ValueError, match="multiples of 16|\\(B, 3, H, W\\)"):
        PSMNet(maxdisp=16).eval()(x, x)


def test_maxdisp_must_suit_the_hourglass():
    with pytest.raises(ValueError, match="multiple of 16"):
        PSMNetStackHourglass(maxdisp=20)
    assert PSMNetBasic(maxdisp=20).maxdisp == 20


def test_memory_estimate_grows_with_size():
    small = psmnet_memory_bytes(384, 1248)
    assert psmnet_memory_bytes(768, 2496) > 3.5 * (small - 400 * 2**20)
    assert psmnet_memory_bytes(256, 512, training=True) > psmnet_memory_bytes(256, 512)


def test_from_checkpoint_round_trip(random_checkpoint):
    model = PSMNet.from_checkpoint(random_checkpoint, maxdisp=64)
    assert not model.training and model.maxdisp == 64 and model.variant == "stackhourglass"
    state = torch.load(random_checkpoint, weights_only=True)["state_dict"]
    key = "feature_extraction.lastconv.2.weight"
    assert torch.equal(model.net.state_dict()[key], state[f"module.{key}"])


def test_from_checkpoint_accepts_our_format_and_basic(tmp_path):
    basic = PSMNet(maxdisp=32, variant="basic")
    path = tmp_path / "ours.pt"
    torch.save({"model": basic.state_dict(), "epoch": 3}, path)
    loaded = PSMNet.from_checkpoint(path, maxdisp=32)
    assert loaded.variant == "basic"


def test_checkpoint_of_another_model_lists_missing_keys(tmp_path):
    path = tmp_path / "other.tar"
    torch.save({"state_dict": torch.nn.Conv2d(3, 8, 3).state_dict()}, path)
    with pytest.raises(UserError, match=r"not a PSMNet .*missing keys \[feature_extraction"):
        PSMNet.from_checkpoint(path)


def test_corrupt_and_missing_checkpoints(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(UserError, match="corrupt or not a PyTorch file"):
        PSMNet.from_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        PSMNet.from_checkpoint(tmp_path / "absent.tar")


def test_official_checkpoint_loads_strictly(shared):
    path = shared("weights", "psmnet_kitti2015.tar")
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    assert len(state) == 429 and all(k.startswith("module.") for k in state)
    assert sum(v.numel() for v in state.values()) == 5_235_968  # weights + BN statistics
    model = PSMNet.from_checkpoint(path)
    own = {k: v for k, v in model.net.state_dict().items() if "num_batches" not in k}
    assert {f"module.{k}": tuple(v.shape) for k, v in own.items()} == {
        k: tuple(v.shape) for k, v in state.items()}
    key = "dres4.conv6.0.weight"
    assert torch.equal(own[key], state[f"module.{key}"])
