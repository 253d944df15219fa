"""CS-TV / CS-SC models: shapes, gradients, the scale identity, beating zero-filling."""

from __future__ import annotations

import pytest
import torch

from stereo_tv.mri import MaskedFourier, build_model, psnr, radial_mask, zero_filled
from stereo_tv.mri.models import CS_TV_DEFAULTS


def _phantom(h: int = 40, w: int = 36) -> torch.Tensor:
    img = torch.full((1, 1, h, w), 0.2)
    img[..., 6:26, 5:20] = 0.8
    img[..., 18:34, 15:30] = 0.5
    return img


def test_cs_tv_builds_with_paper_options():
    model = build_model("cs-tv", radial_mask(16, 16, 0.3))
    game = model.game
    assert game.method == "extragrad" and game.iters == 24 and not game.symmetric
    # 24 iterations x 2 half-steps x (8 asymmetric weights + step + alpha)
    assert sum(p.numel() for p in model.parameters()) == 480
    with pytest.raises(ValueError, match="valid: cs-tv, cs-sc"):
        build_model("cs-xx", radial_mask(8, 8, 0.5))


def test_forward_shape_grad_and_no_nan():
    img = torch.rand(2, 1, 17, 13)
    model = build_model("cs-tv", radial_mask(17, 13, 0.4), iters=3)
    out = model(model.operator.measure(img))
    assert out.shape == img.shape and out.dtype == img.dtype
    torch.nn.functional.mse_loss(out, img).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_input_checks():
    model = build_model("cs-tv", radial_mask(8, 8, 0.5), iters=1)
    with pytest.raises(ValueError, match="complex"):
        model(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="k-space"):
        model(torch.zeros(1, 1, 8, 9, dtype=torch.complex64))


def test_scale_is_a_reparametrisation():
    """Game on s*x divided by s == game on x with weights a/s and alpha*s (TV is 1-homogeneous)."""
    mask = radial_mask(15, 11, 0.4)
    img = torch.rand(1, 1, 15, 11, dtype=torch.float64)
    s = 100.0
    scaled = build_model("cs-tv", mask, iters=4, scale=s).double()
    plain = build_model("cs-tv", mask, iters=4, scale=1.0,
                        init_weight=CS_TV_DEFAULTS["init_weight"] / s,
                        init_alpha=CS_TV_DEFAULTS["init_alpha"] * s).double()
    x = scaled.operator(img)
    # parameters are initialised in float32 (log of alpha), hence the 1e-6 tolerance
    torch.testing.assert_close(scaled(x), plain(x), rtol=1e-6, atol=1e-6)


def test_fully_sampled_zero_weight_returns_image():
    img = _phantom()
    model = build_model("cs-tv", torch.ones(40, 36, dtype=torch.bool), iters=2, init_weight=0.0)
    torch.testing.assert_close(model(model.operator(img)), img, atol=1e-5, rtol=0)


def test_untrained_cs_tv_beats_zero_filling():
    img = _phantom()
    model = build_model("cs-tv", radial_mask(40, 36, 0.3))
    x = model.operator(img)
    with torch.inference_mode():
        ours = float(psnr(model(x).clamp(0, 1), img)[0])
    zf = float(psnr(zero_filled(x, model.operator.mask).clamp(0, 1), img)[0])
    assert ours > zf + 1.0


def test_other_operator_at_call_time():
    model = build_model("cs-tv", radial_mask(8, 8, 0.5), iters=2)
    op = MaskedFourier(radial_mask(12, 10, 0.5))
    out = model(op(torch.rand(1, 1, 12, 10)), op)
    assert out.shape == (1, 1, 12, 10)


def test_cs_sc_forward_grad_and_paper_defaults():
    from stereo_tv.mri.models import CS_SC_DEFAULTS

    assert (CS_SC_DEFAULTS["patch_size"], CS_SC_DEFAULTS["num_atoms"],
            CS_SC_DEFAULTS["iters"]) == (9, 256, 24)
    g = torch.Generator().manual_seed(0)
    dictionary = torch.randn(9, 12, generator=g)
    model = build_model("cs-sc", radial_mask(13, 11, 0.4), patch_size=3, num_atoms=12, iters=3,
                        dictionary=dictionary, priors=["l1", "variance"])
    img = torch.rand(1, 1, 13, 11)
    out = model(model.operator.measure(img))
    assert out.shape == img.shape
    torch.nn.functional.mse_loss(out, img).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.options["priors"] == ["l1", "variance"]


def test_cs_sc_scale_is_a_reparametrisation():
    """ISTA on s*x with l1 weight s*lambda, divided by s == ISTA on x with lambda."""
    mask, lam, s = radial_mask(13, 11, 0.4), 3e-3, 100.0
    img = torch.rand(1, 1, 13, 11, dtype=torch.float64)
    kw = dict(patch_size=3, num_atoms=12, iters=3, dictionary=torch.randn(9, 12))
    scaled = build_model("cs-sc", mask, scale=s, init_l1=s * lam, **kw).double()
    plain = build_model("cs-sc", mask, scale=1.0, init_l1=lam, **kw).double()
    x = scaled.operator(img)
    torch.testing.assert_close(scaled(x), plain(x))


def test_cs_sc_l1_weights_survive_the_first_adam_steps():
    """At the paper's lr (6e-4) the default l1 weights stay positive (alive): stored unscaled
    (1e-4), one Adam step took a quarter of them below zero here, where the prox clamps them
    and their gradient vanishes."""
    from stereo_tv.mri.dictionary import overcomplete_dct

    img = _phantom(24, 22)
    model = build_model("cs-sc", radial_mask(24, 22, 0.3), patch_size=3, num_atoms=16, iters=4,
                        dictionary=overcomplete_dct(3, 16))
    opt = torch.optim.Adam(model.parameters(), lr=6e-4)
    x = model.operator.measure(img)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), img).backward()
        opt.step()
    assert (model.game.l1_weight > 0).all()


def test_cs_sc_weights_roundtrip(tmp_path):
    from stereo_tv.mri import export_weights, load_weights

    model = build_model("cs-sc", radial_mask(12, 12, 0.5), patch_size=3, num_atoms=10, iters=2)
    back = load_weights(export_weights(model, tmp_path / "cs_sc_50.pt", rate=50))
    x = model.operator.measure(torch.rand(1, 1, 12, 12))
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x))


def test_cs_sc_fully_sampled_converges_towards_image():
    """From zero codes, the ISTA step 1.8 patch^2 on the padded canvas is stable and approaches
    the image (l1 = 0)."""
    from stereo_tv.mri.dictionary import overcomplete_dct

    img = _phantom(20, 18).double()
    kw = dict(patch_size=3, num_atoms=9, init_l1=0.0, dictionary=overcomplete_dct(3, 9),
              code_init="zero")
    model = build_model("cs-sc", torch.ones(20, 18, dtype=torch.bool), iters=12, **kw).double()
    x = model.operator(img)
    with torch.no_grad():
        first = build_model("cs-sc", torch.ones(20, 18, dtype=torch.bool), iters=1,
                            **kw).double()(x)
        last = model(x)
    err_first, err_last = (first - img).norm(), (last - img).norm()
    assert err_last < 0.5 * err_first and torch.isfinite(last).all()


def test_cs_sc_starts_from_the_zero_filled_image():
    """Default ``code_init="lsq"``: the codes reproduce ``A^T x`` on the canvas, a fixed point
    of the data term (``A A^T x = x``), so with zero thresholds the output is the zero-filled
    image, at any sampling rate; from zero codes (the old start) 3 steps are far from it."""
    from stereo_tv.mri.dictionary import overcomplete_dct

    img = _phantom(20, 18).double()
    mask = radial_mask(20, 18, 0.3)
    kw = dict(patch_size=3, num_atoms=16, iters=3, init_l1=0.0, dictionary=overcomplete_dct(3, 16))
    model = build_model("cs-sc", mask, **kw).double()
    assert model.options["code_init"] == "lsq"
    x = model.operator.measure(img)
    zf = zero_filled(x, model.operator.mask)
    with torch.no_grad():
        torch.testing.assert_close(model(x), zf)
        zero = build_model("cs-sc", mask, code_init="zero", **kw).double()(x)
    assert (zero - zf).norm() > 0.05 * zf.norm()


def test_cs_sc_record_without_code_init_rebuilds_zero_codes(tmp_path):
    """A file written before ``code_init`` existed loads with the zero-code start it was
    trained with, not with today's default."""
    from stereo_tv.mri import export_weights, load_weights

    model = build_model("cs-sc", radial_mask(12, 12, 0.5), patch_size=3, num_atoms=10, iters=2,
                        code_init="zero")
    old = {k: v for k, v in model.options.items() if k != "code_init"}
    back = load_weights(export_weights(model, tmp_path / "cs_sc_50.pt", rate=50, kwargs=old))
    assert back.game.code_init == "zero"
    x = model.operator.measure(torch.rand(1, 1, 12, 12))
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x))
