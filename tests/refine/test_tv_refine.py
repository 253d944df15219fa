"""TVRefine: known values, identity at initialisation, scale equivariance, gradients, learning."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from stereo_tv.metrics import end_point_error
from stereo_tv.refine import (
    TVRefine,
    confidence_weight,
    disparity_scale,
    load_head,
    read_head,
    save_head,
)

VARIANTS = [
    dict(iters=12, method="gd"),
    dict(iters=24, method="gd"),
    dict(iters=24, method="extragrad"),
    dict(iters=24, method="extragrad", guided=True),
    dict(iters=24, method="extragrad", guided=True, confidence=True),
    dict(iters=6, method="extragrad", symmetric=True, connectivity=4),
]


def _inputs(b=2, h=9, w=7, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    disp = 5.0 + 40.0 * torch.rand(b, 1, h, w, generator=g, dtype=dtype)
    image = torch.randn(b, 3, h, w, generator=g, dtype=dtype)
    conf = torch.rand(b, 1, h, w, generator=g, dtype=dtype)
    return disp, image, conf


def _run(head, disp, image, conf):
    return head(disp, image=image, confidence=conf)


def _scene(b, h, w, g):
    """Piecewise-planar disparity (a slanted background and a fronto-parallel box)."""
    y = torch.linspace(0, 1, h).view(1, 1, h, 1)
    x = torch.linspace(0, 1, w).view(1, 1, 1, w)
    out = []
    for _ in range(b):
        a, c = 10 + 20 * torch.rand(2, generator=g)
        d = a + c * y + 0 * x
        r0, c0 = int(torch.randint(0, h // 2, (1,), generator=g)), int(
            torch.randint(0, w // 2, (1,), generator=g))
        d[..., r0:r0 + h // 3, c0:c0 + w // 3] = 50 + 10 * torch.rand(1, generator=g)
        out.append(d)
    return torch.cat(out)


@pytest.mark.parametrize("kwargs", VARIANTS, ids=lambda k: "-".join(f"{v}" for v in k.values()))
def test_shapes_dtype_and_identity_at_init(kwargs):
    head = TVRefine(**kwargs)
    disp, image, conf = _inputs()
    out = _run(head, disp, image, conf)
    assert out.shape == disp.shape and out.dtype == disp.dtype
    rng = float(disp.max() - disp.min())
    assert float((out - disp).detach().abs().max()) < 0.01 * rng


def test_constant_map_is_unchanged():
    head = TVRefine(iters=5, guided=True, confidence=True)
    with torch.no_grad():
        head.game.weight.fill_(0.3)
    d = torch.full((1, 1, 9, 7), 17.0)
    _, image, conf = _inputs(b=1)
    assert torch.allclose(head(d, image=image, confidence=conf), d, atol=1e-5)


def test_parameter_counts():
    assert sum(p.numel() for p in TVRefine(iters=24, method="extragrad").parameters()) == 480
    assert sum(p.numel() for p in TVRefine(iters=12, method="gd").parameters()) == 120
    full = TVRefine(iters=24, guided=True, confidence=True)
    assert sum(p.numel() for p in full.parameters()) == 480 + 3 + 2


def test_disparity_scale_and_confidence_weight_values():
    d = torch.tensor([[[[2.0, -6.0]]], [[[0.1, 0.1]]]])
    assert disparity_scale(d).flatten().tolist() == [4.0, 1.0]          # min_scale 1 px
    assert disparity_scale(d, scale=8.0).flatten().tolist() == [8.0, 8.0]
    z = torch.zeros(())
    w = confidence_weight(torch.tensor([0.0, 0.999, 2.0]), z, torch.log(torch.tensor(2.0)))
    assert torch.allclose(w, torch.tensor([1e-6, 1.0, 1.001 ** 2]))


def test_scale_equivariance_with_mean_scale():
    torch.manual_seed(0)
    head = TVRefine(iters=8, guided=True)
    with torch.no_grad():
        head.game.weight.uniform_(0.05, 0.3)
    disp, image, _ = _inputs()
    out = head(disp, image=image)
    assert torch.allclose(head(0.5 * disp, image=image), 0.5 * out, atol=1e-4)
    assert torch.allclose(head(3.0 * disp, image=image), 3.0 * out, atol=1e-3)
    fixed = TVRefine(iters=8, scale=10.0)
    with torch.no_grad():
        fixed.game.weight.fill_(0.3)
    assert not torch.allclose(fixed(0.5 * disp), 0.5 * fixed(disp), atol=1e-3)


def test_batch_equals_stack_of_singles():
    head = TVRefine(iters=6, guided=True, confidence=True)
    with torch.no_grad():
        head.game.weight.fill_(0.1)
    disp, image, conf = _inputs(b=3)
    batched = head(disp, image=image, confidence=conf)
    singles = torch.cat([head(disp[i:i + 1], image=image[i:i + 1], confidence=conf[i:i + 1])
                         for i in range(3)])
    assert torch.allclose(batched, singles, atol=1e-5)


def test_guide_edge_keeps_a_disparity_step_sharper():
    """A disparity step on an image edge survives better with the edge-aware weights."""
    d = torch.full((1, 1, 9, 12), 10.0)
    d[..., 6:] = 20.0
    image = torch.zeros(1, 3, 9, 12)
    image[..., 6:] = 2.0
    plain, guided = TVRefine(iters=24), TVRefine(iters=24, guided=True, init_guide_kappa=3.0)
    with torch.no_grad():
        for h in (plain, guided):
            h.game.weight.fill_(0.3)
    step_plain = (plain(d)[..., 6] - plain(d)[..., 5]).mean()
    step_guided = (guided(d, image=image)[..., 6] - guided(d, image=image)[..., 5]).mean()
    assert step_guided > step_plain + 1.0


def test_low_confidence_pixel_follows_its_neighbours():
    d = torch.full((1, 1, 7, 7), 10.0)
    d[0, 0, 3, 3] = 40.0                     # an outlier
    conf = torch.ones_like(d)
    conf[0, 0, 3, 3] = 0.0
    trusting, weighted = TVRefine(iters=24), TVRefine(iters=24, confidence=True)
    with torch.no_grad():
        for h in (trusting, weighted):
            h.game.weight.fill_(0.05)
    err_trusting = (trusting(d)[0, 0, 3, 3] - 10).abs()
    err_weighted = (weighted(d, confidence=conf)[0, 0, 3, 3] - 10).abs()
    assert err_weighted < 0.5 * err_trusting


def test_errors_name_the_bad_value():
    head = TVRefine(iters=2, guided=True, confidence=True)
    disp, image, conf = _inputs(b=1)
    with pytest.raises(ValueError, match=r"disp must be a \(B, 1, H, W\)"):
        head(disp[0], image=image, confidence=conf)
    with pytest.raises(ValueError, match="guided=True: pass image"):
        head(disp, confidence=conf)
    with pytest.raises(ValueError, match=r"image must be \(1, 3, 9, 7\)"):
        head(disp, image=image[..., :5], confidence=conf)
    with pytest.raises(ValueError, match="confidence=True: pass confidence"):
        head(disp, image=image)
    with pytest.raises(ValueError, match="method must be one of"):
        TVRefine(method="adam")
    with pytest.raises(ValueError, match="scale must be 'mean'"):
        TVRefine(scale="median")


def test_gradcheck_float64_inputs():
    head = TVRefine(iters=2, guided=True, confidence=True).double()
    with torch.no_grad():
        head.game.weight.uniform_(0.05, 0.3, generator=torch.Generator().manual_seed(1))
    disp, image, conf = _inputs(b=1, h=5, w=4, dtype=torch.float64)
    conf = 0.2 + 0.6 * conf
    args = tuple(t.clone().requires_grad_() for t in (disp, image, conf))
    assert torch.autograd.gradcheck(lambda d, i, c: _run(head, d, i, c), args)


def test_gradcheck_float64_parameters():
    head = TVRefine(iters=2, guided=True, confidence=True).double()
    disp, image, conf = _inputs(b=1, h=5, w=4, dtype=torch.float64)
    names = [n for n, _ in head.named_parameters()]
    g = torch.Generator().manual_seed(2)
    values = []
    for n, p in head.named_parameters():
        v = p.detach().clone()
        if n.endswith("weight"):
            v.uniform_(0.05, 0.3, generator=g)
        values.append(v.requires_grad_())

    def f(*params):
        return functional_call(head, dict(zip(names, params)), (disp,),
                               {"image": image, "confidence": conf})

    assert torch.autograd.gradcheck(f, tuple(values))


def test_every_parameter_gets_a_finite_gradient():
    head = TVRefine(iters=4, guided=True, confidence=True)
    disp, image, conf = _inputs()
    head(disp, image=image, confidence=conf).square().mean().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fifty_training_steps_lower_the_epe():
    """Denoise synthetic noisy disparities (Gaussian noise + outliers): EPE must drop."""
    g = torch.Generator().manual_seed(0)

    def batch(b):
        gt = _scene(b, 24, 32, g)
        noisy = gt + 1.0 * torch.randn(gt.shape, generator=g)
        spikes = torch.rand(gt.shape, generator=g) < 0.05
        noisy = torch.where(spikes, noisy + 15 * torch.randn(gt.shape, generator=g), noisy)
        return gt, noisy

    head = TVRefine(iters=8, method="extragrad")
    opt = torch.optim.Adam(head.parameters(), lr=2e-2)
    gt_val, noisy_val = batch(4)
    with torch.no_grad():
        before = end_point_error(head(noisy_val), gt_val)
    for _ in range(50):
        gt, noisy = batch(4)
        loss = torch.nn.functional.smooth_l1_loss(head(noisy), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = end_point_error(head(noisy_val), gt_val)
    raw = end_point_error(noisy_val, gt_val)
    assert before == pytest.approx(raw, rel=0.02)
    assert after < 0.8 * before


def test_save_and_load_head_roundtrip(tmp_path):
    head = TVRefine(iters=3, method="gd", guided=True, confidence=True, scale=4.0)
    with torch.no_grad():
        head.game.weight.fill_(0.2)
    path = save_head(tmp_path / "h.pt", head, backbone="test", train={"command": "x"})
    loaded = load_head(path)
    assert loaded.config == head.config and not loaded.training
    assert read_head(path)["backbone"] == "test"
    disp, image, conf = _inputs(b=1)
    assert torch.equal(loaded(disp, image=image, confidence=conf),
                       head(disp, image=image, confidence=conf))
