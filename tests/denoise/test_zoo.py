"""Model zoo: names, paper parameter counts, initialization and its tuning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereo_tv.core.nonlocal_graph import nonlocal_graph
from stereo_tv.denoising import MODEL_NAMES, build_model, model_family, psnr, synthetic_image
from stereo_tv.denoising._init import (
    BB_STEP_FROM_PLAIN,
    GROUP_FROM_L1,
    GROUP_SELF_START,
    default_init,
    rescale_to_sigma,
    set_init,
    tune_init,
)

# paper Table A4 (pixel models, 8-connectivity, K = 24); Laplacian models have no alpha
PAPER_PARAMS = {"tv-sym": 72, "tv-sym-eg": 144, "tv-asym": 240, "tv-asym-eg": 480,
                "nltv-eg": 225, "nltv-eg-kappas": 306, "tinycnn-326": 326, "tinycnn-1200": 1200}


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameter_counts(name):
    assert _count(build_model(name, 25.0)) == PAPER_PARAMS[name]


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="tv-asym-eg"):
        build_model("tv-nope", 25.0)
    assert model_family("bm3d") == "classical" and model_family("nltv-eg") == "pixel"


@pytest.mark.parametrize("name", ["tv-sym", "tv-asym-eg", "lap-asym", "nltv-eg", "tinycnn-326"])
def test_shapes_constant_image_and_gradients(name):
    model = build_model(name, 25.0, **({} if name.startswith("tiny") else {"iters": 3}))
    x = torch.full((2, 1, 9, 7), 0.3)
    torch.testing.assert_close(model(x), x)  # a constant image is a fixed point
    y = x + 0.1 * torch.randn_like(x)
    model(y).square().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


def test_init_denoises_and_scales_with_sigma():
    x = synthetic_image()
    y = torch.from_numpy(x + 25 / 255 * np.random.default_rng(0).standard_normal(x.shape))
    y = y.float()[None, None]
    model = build_model("tv-asym-eg", 25.0)
    with torch.no_grad():
        z = model(y)[0, 0].numpy()
    assert psnr(z, x) > psnr(y[0, 0].numpy(), x) + 3
    w25, w50 = default_init("tv", 25.0)["weight"], default_init("tv", 50.0)["weight"]
    assert w50 == pytest.approx(2 * w25, rel=1e-4)


def test_tune_init_never_worsens_the_start():
    x = synthetic_image()
    game = build_model("tv-asym", 25.0, iters=4)
    info = tune_init(game, [x], 25.0, rounds=1)
    assert info["psnr"] >= info["psnr_start"]
    assert set(default_init("tv", 25.0)) <= set(info)


def test_rescale_to_sigma_scales_weights():
    src = build_model("tv-asym-eg", 25.0, iters=2)
    dst = build_model("tv-asym-eg", 50.0, iters=2)
    info = rescale_to_sigma(dst, src, 25.0, 50.0)
    assert info["factor"] == 2.0
    torch.testing.assert_close(dst.weight, 2 * src.weight)
    torch.testing.assert_close(dst.log_alpha.exp() * dst.weight[..., :1],
                               src.log_alpha.exp() * src.weight[..., :1])


def test_rescale_to_sigma_scales_patch_thresholds():
    kw = dict(iters=2, patch_size=3, num_atoms=4)
    src = build_model("sc-tv", 25.0, **kw)
    with torch.no_grad():
        src.l1_weight.uniform_(0.01, 0.1)
    dst = build_model("sc-tv", 50.0, **kw)
    rescale_to_sigma(dst, src, 25.0, 50.0)
    torch.testing.assert_close(dst.l1_weight, 2 * src.l1_weight)
    torch.testing.assert_close(dst.tv_weight, 2 * src.tv_weight)
    torch.testing.assert_close(dst.log_tv_alpha, src.log_tv_alpha - math.log(2))
    torch.testing.assert_close(dst.D, src.D)                 # dictionaries are not strengths
    torch.testing.assert_close(dst.log_step, src.log_step)


@pytest.mark.parametrize("name", ["sc-var", "sc-tv", "sc-tv-var"])
def test_sc_weights_start_a_game_with_more_priors(name):
    """The added TV / variance terms start at 0: the same function as the SC source, and
    training still reaches them (non-zero gradient)."""
    kw = dict(iters=3, patch_size=3, num_atoms=6)
    src = build_model("sc", 25.0, **kw)
    with torch.no_grad():
        src.l1_weight.uniform_(0.01, 0.1)
        src.W.add_(0.05 * torch.randn_like(src.W))
    dst = build_model(name, 50.0, **kw)
    info = rescale_to_sigma(dst, src, 25.0, 50.0)
    added = [n for n in ("tv_weight", "variance_weight") if getattr(dst, n) is not None]
    assert set(added) <= set(info["added_at_zero"])
    assert all(torch.count_nonzero(getattr(dst, n)) == 0 for n in added)
    torch.testing.assert_close(dst.l1_weight, 2 * src.l1_weight)
    x = torch.rand(1, 1, 9, 8)
    with torch.no_grad():
        src.l1_weight.mul_(2)                                  # src at sigma 50
        torch.testing.assert_close(dst(x), src(x))
    dst(x).square().sum().backward()
    assert all(getattr(dst, n).grad.abs().sum() > 0 for n in added)


@pytest.mark.parametrize("name, source", [("nlgroup", "sc"), ("nlgroup-var", "sc-var"),
                                          ("nlgroup-tv", "sc")])
def test_sc_weights_start_a_group_game(name, source):
    """sc -> nlgroup: the l1 strengths, times GROUP_FROM_L1[0], become the group strengths; the
    dictionaries, steps and shared terms are copied, the group's alpha starts at
    GROUP_FROM_L1[1] (over the sigma factor) and kappa at the game's own start."""
    kw = dict(iters=3, patch_size=3, num_atoms=6, nl_k=2, nl_window=3)
    src = build_model(source, 25.0, **kw)
    with torch.no_grad():
        src.l1_weight.uniform_(0.01, 0.1)
        src.W.add_(0.05 * torch.randn_like(src.W))
    dst = build_model(name, 50.0, **kw)
    kappa0 = dst.kappa.detach().clone()
    info = rescale_to_sigma(dst, src, 25.0, 50.0)
    assert info["renamed"] == {"l1_weight": "group_weight"}
    torch.testing.assert_close(dst.group_weight, 2 * GROUP_FROM_L1[0] * src.l1_weight)
    torch.testing.assert_close(dst.log_group_alpha.exp(),
                               torch.full_like(dst.log_group_alpha, GROUP_FROM_L1[1] / 2))
    torch.testing.assert_close(dst.kappa, kappa0)
    for n in ("D", "C", "W", "log_step"):
        torch.testing.assert_close(getattr(dst, n), getattr(src, n))
    if source == "sc-var":
        torch.testing.assert_close(dst.variance_weight, src.variance_weight)
    assert dst.l1_weight is None
    x = torch.rand(1, 1, 9, 8)
    assert torch.isfinite(dst(x)).all()


@pytest.mark.parametrize("name, source", [("nlgroup", "sc"), ("nlgroup-var-tv", "sc-tv-var")])
def test_sc_weights_start_a_group_prox_game_at_sparse_coding(name, source):
    """sc -> nlgroup with ``nl_self`` and ``group_prox``: the l1 strengths are taken as they are
    (times the sigma factor), there is no alpha, and the own distance starts at
    GROUP_SELF_START; with the own distance pushed far down the game computes its source
    exactly (float64)."""
    kw = dict(iters=3, patch_size=3, num_atoms=6, nl_k=2, nl_window=3)
    src = build_model(source, 25.0, **kw).double()
    with torch.no_grad():
        src.l1_weight.uniform_(0.01, 0.1)
        src.W.add_(0.05 * torch.randn_like(src.W))
    dst = build_model(name, 25.0, nl_self=True, group_prox=True, **kw).double()
    info = rescale_to_sigma(dst, src, 25.0, 25.0)
    assert dst.log_group_alpha is None
    torch.testing.assert_close(dst.group_weight, src.l1_weight)
    assert info["self_dist_start"] == GROUP_SELF_START == float(dst.self_dist)
    x = torch.rand(1, 1, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        assert (dst(x) - src(x)).abs().max() > 1e-6          # the groups pool their codes
        dst.self_dist.fill_(-80.0)
        torch.testing.assert_close(dst(x), src(x))


def test_sc_starts_sc_bb_with_its_steps_scaled_and_back():
    """sc -> sc-bb multiplies the learned steps by BB_STEP_FROM_PLAIN (the per-patch BB step is
    larger than the ISTA step the source learned); sc-bb -> sc divides them back."""
    kw = dict(iters=3, patch_size=3, num_atoms=12, center=True)
    src = build_model("sc", 25.0, **kw)
    with torch.no_grad():
        src.log_step.uniform_(-0.2, 0.1)
    bb = build_model("sc-bb", 25.0, **kw)
    info = rescale_to_sigma(bb, src, 25.0, 25.0)
    assert info["bb_step_scale"] == BB_STEP_FROM_PLAIN < 1
    torch.testing.assert_close(bb.log_step, src.log_step + math.log(BB_STEP_FROM_PLAIN))
    torch.testing.assert_close(bb.l1_weight, src.l1_weight)
    back = build_model("sc", 25.0, **kw)
    rescale_to_sigma(back, bb, 25.0, 25.0)
    torch.testing.assert_close(back.log_step, src.log_step)


def test_a_source_without_the_games_terms_is_refused():
    kw = dict(iters=2, patch_size=3, num_atoms=4)
    with pytest.raises(RuntimeError, match="missing"):            # group -> l1: no conversion
        rescale_to_sigma(build_model("sc", 25.0, **kw), build_model("nlgroup", 25.0, **kw),
                         25.0, 25.0)
    with pytest.raises(RuntimeError, match="(?i)unexpected"):      # dropping a prior: no silent fit
        rescale_to_sigma(build_model("sc", 25.0, **kw), build_model("sc-var", 25.0, **kw),
                         25.0, 25.0)
    with pytest.raises(RuntimeError, match="(?i)unexpected"):
        rescale_to_sigma(build_model("nlgroup", 25.0, **kw),
                         build_model("sc-var", 25.0, **kw), 25.0, 25.0)


def test_one_kappa_weights_start_a_several_kappa_game():
    src = build_model("nltv-eg", 25.0, iters=4, nl_patch=3, nl_window=5, nl_k=4,
                      nl_update_every=2)
    with torch.no_grad():
        src.kappa.uniform_(0.5, 2.0)
    dst = build_model("nltv-eg-kappas", 25.0, iters=4, nl_patch=3, nl_window=5, nl_k=4,
                      nl_update_every=2)
    rescale_to_sigma(dst, src, 25.0, 25.0)
    assert dst.kappa.shape == (2, 9) and torch.equal(dst.kappa[1], src.kappa[0])
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x))
    with pytest.raises(RuntimeError):                       # another model: no silent fit
        rescale_to_sigma(build_model("tv-asym-eg", 25.0, iters=4), src, 25.0, 25.0)


def test_set_init_symmetric_and_shared():
    q = default_init("tv", 25.0)
    for name in ("tv-sym-eg", "tv-asym"):
        game = build_model(name, 25.0, iters=2)
        set_init(game, q)
        assert torch.isfinite(game.log_step).all()


def test_every_name_builds():
    for name in MODEL_NAMES:
        if model_family(name) == "patch":
            continue  # needs stereo_tv.core.PatchGame and a dictionary; see test_patch.py
        assert isinstance(build_model(name, 15.0), torch.nn.Module)


def test_relative_lr_groups_cover_every_parameter_once():
    from stereo_tv.denoising._task import relative_lr_groups
    model = build_model("tv-asym-eg", 25.0, iters=2)
    groups = relative_lr_groups(model, 1e-3)
    params = [p for g in groups for p in g["params"]]
    assert len(params) == len(list(model.parameters()))
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["log_step"] == pytest.approx(2e-3)
    assert lrs["weight"] < 1e-3  # weights of about 0.1 move by a fraction of their size
    nl = build_model("nltv-eg", 25.0, iters=2, nl_filter=5)
    lrs = {g["name"]: g["lr"] for g in relative_lr_groups(nl, 1e-3)}
    assert lrs["graph_filter"] == pytest.approx(1e-3)      # its identity's centre, not RMS 0.2


def test_patch_models_build_with_a_learned_dictionary(tmp_path):
    from stereo_tv.denoising import initial_dictionary, write_image
    rng = np.random.default_rng(0)
    for k in range(2):
        write_image(tmp_path / f"test_{k:03d}.png", rng.random((20, 18)))
    cache = tmp_path / "cache"
    d = initial_dictionary(tmp_path, patch=3, atoms=8, cache=cache, n=300, iters=2)
    name = f"dict_{tmp_path.name}_3x3_8_n300_it2.npy"
    assert d.shape == (9, 8) and sorted(p.name for p in cache.iterdir()) == [name]
    assert float(torch.linalg.matrix_norm(d.double(), 2)) == pytest.approx(1.0, abs=1e-5)
    np.save(cache / name, 2 * d.numpy())                    # same settings: the cached file
    torch.testing.assert_close(initial_dictionary(tmp_path, 3, 8, cache, 300, 2), 2 * d)
    other = initial_dictionary(tmp_path, 3, 8, cache, 200, 2)   # other settings: learned again
    assert len(list(cache.iterdir())) == 2 and not torch.equal(other, 2 * d)
    model = build_model("sc-var", 25.0, dictionary=d, patch_size=3, num_atoms=8, iters=2)
    x = torch.rand(1, 1, 11, 9)
    assert model(x).shape == x.shape
    assert model_family("nlgroup-var-tv") == "patch"


def test_jitter_breaks_mirror_symmetry_of_asymmetric_games_only():
    import torch

    from stereo_tv.denoising._init import jitter_weights

    game = build_model("tv-asym-eg", 25)
    w0 = game.weight.detach().clone()
    assert torch.equal(w0[..., :4], w0[..., 4:])          # tuned start: a_o == a_-o
    assert jitter_weights(game, 0.3, seed=1) == w0.numel()
    w1 = game.weight.detach()
    assert not torch.allclose(w1[..., :4], w1[..., 4:])
    assert (w1 / w0 - 1).std() == pytest.approx(0.3, rel=0.2)
    sym = build_model("tv-sym-eg", 25)
    before = sym.weight.detach().clone()
    assert jitter_weights(sym, 0.3) == 0 and torch.equal(sym.weight, before)


def test_convert_nl_distance_matches_the_weights_and_round_trips():
    """squared -> norm multiplies kappa by 2 D0; the first graph's softmax weights then agree
    with the source's better than with kappa copied unchanged; norm -> squared undoes it."""
    from stereo_tv.core.nonlocal_graph import nonlocal_graph
    from stereo_tv.denoising._init import convert_nl_distance

    kw = dict(iters=2, nl_k=6, nl_window=7, nl_patch=5)
    images = [synthetic_image(40, 36), synthetic_image(33, 41)]
    names = ["a.png", "b.png"]
    src = build_model("nltv-eg", 25.0, **kw)
    dst = build_model("nltv-eg", 25.0, nl_distance="norm", **kw)
    rescale_to_sigma(dst, src, 25.0, 25.0)
    assert convert_nl_distance(src, "squared", images, names, 25.0) == {}
    y = torch.from_numpy(images[0])[None, None].float() + 0.1 * torch.randn(1, 1, 40, 36)
    graph = dict(k=6, window=7, patch=5)
    a_src = nonlocal_graph(y, src.kappa[0], **graph)[1]
    a_copied = nonlocal_graph(y, dst.kappa[0], distance="norm", **graph)[1]
    info = convert_nl_distance(dst, "squared", images, names, 25.0)
    assert info["from"] == "squared" and info["to"] == "norm"
    torch.testing.assert_close(dst.kappa, src.kappa * 2 * info["median_distance"])
    a_conv = nonlocal_graph(y, dst.kappa[0], distance="norm", **graph)[1]
    assert (a_conv - a_src).abs().mean() < 0.7 * (a_copied - a_src).abs().mean()

    back = build_model("nltv-eg", 25.0, **kw)
    rescale_to_sigma(back, dst, 25.0, 25.0)
    convert_nl_distance(back, "norm", images, names, 25.0)
    torch.testing.assert_close(back.kappa, src.kappa)


def test_convert_nl_distance_maps_the_self_distance():
    """A learned self distance ``s`` is a logit beside the neighbours' ``D^2``, which become
    ``2 D0 D = D^2 + D0^2`` near ``D0``, so the conversion adds ``D0^2`` to it: the pixel's own
    share of its softmax then stays much closer to the source's than with ``s`` copied, and the
    map round-trips. A source without ``nl_self`` starts the pixel in the source's form,
    converted with the rest."""
    from stereo_tv.denoising._init import convert_nl_distance, self_dist_start

    kw = dict(iters=2, nl_k=6, nl_window=7, nl_patch=5, nl_self=True)
    images = [synthetic_image(40, 36), synthetic_image(33, 41)]
    names = ["a.png", "b.png"]
    src = build_model("nltv-eg", 25.0, **kw)
    with torch.no_grad():
        src.self_dist.fill_(2.0)
    dst = build_model("nltv-eg", 25.0, nl_distance="norm", **kw)
    rescale_to_sigma(dst, src, 25.0, 25.0)
    info = convert_nl_distance(dst, "squared", images, names, 25.0)
    expected = 2.0 + info["median_distance"] ** 2
    assert dst.self_dist.item() == pytest.approx(expected) == info["self_dist"]
    torch.manual_seed(0)
    y = torch.from_numpy(images[0])[None, None].float() + 0.1 * torch.randn(1, 1, 40, 36)
    graph = dict(k=6, window=7, patch=5)

    def own_share(game, s):
        with torch.no_grad():
            a = nonlocal_graph(y, game.kappa[0], distance=game.nl_distance,
                               self_distance=torch.tensor([s]), **graph)[1]
        return 1 - a.sum(1)

    share = own_share(src, 2.0)
    mapped = (own_share(dst, expected) - share).abs().mean()
    assert mapped < 0.4 * (own_share(dst, 2.0) - share).abs().mean()
    back = build_model("nltv-eg", 25.0, **kw)
    rescale_to_sigma(back, dst, 25.0, 25.0)
    convert_nl_distance(back, "norm", images, names, 25.0)
    assert back.self_dist.item() == pytest.approx(2.0)

    plain = build_model("nltv-eg", 25.0, **{k: v for k, v in kw.items() if k != "nl_self"})
    fresh = build_model("nltv-eg", 25.0, nl_distance="norm", **kw)
    start = rescale_to_sigma(fresh, plain, 25.0, 25.0)["self_dist_start"]
    assert start == pytest.approx(self_dist_start(plain, 25.0))      # the squared form
    info = convert_nl_distance(fresh, "squared", images, names, 25.0)
    assert fresh.self_dist.item() == pytest.approx(start + info["median_distance"] ** 2)


@pytest.mark.parametrize(("sigma", "distance"), [(25.0, "squared"), (50.0, "norm")])
def test_no_self_weights_start_an_nl_self_game(sigma, distance):
    """``nl_self`` from a file without it: the pixel enters its softmax beyond the noise
    distance (:func:`self_dist_start`), so on a noisy image the game is close to the source and
    a flat region's pixel keeps about 1% of its weight, and the self distance gets a gradient.
    The kappa here puts the noise distance at 6 (the shipped files': 0.06 to 8.6), where a
    fixed start at 3, this function's first version, kept most of the weight: no smoothing."""
    from stereo_tv.denoising import add_noise
    from stereo_tv.denoising._init import self_dist_start
    kw = dict(iters=4, nl_patch=3, nl_window=5, nl_k=8, nl_distance=distance)
    src = build_model("nltv-eg-kappas", sigma, **kw)
    with torch.no_grad():                    # noise distance 2 (sigma/255)^2 |kappa|^2 -> 6
        noise_sq = 2 * (sigma / 255) ** 2 * src.kappa[0].square().sum()
        src.kappa.mul_((6.0 / noise_sq).sqrt() if distance == "squared" else 6.0 / noise_sq.sqrt())
    dst = build_model("nltv-eg-kappas", sigma, nl_self=True, **kw)
    info = rescale_to_sigma(dst, src, sigma, sigma)
    start = self_dist_start(dst, sigma)
    assert start == pytest.approx(6.0 + 1.5)
    assert info["self_dist_start"] == start and "added_at_zero" not in info
    assert dst.self_dist.item() == pytest.approx(start)
    noisy = torch.from_numpy(add_noise(np.full((24, 24), 0.5), sigma, seed=0))[None, None]
    x = torch.from_numpy(add_noise(synthetic_image(24, 23), sigma, seed=1))[None, None]

    def distance_to_source(s: float) -> float:
        with torch.no_grad():
            dst.self_dist.fill_(s)
            out = float((dst(x) - src(x)).abs().mean())
            dst.self_dist.fill_(start)
        return out

    with torch.no_grad():
        _, a = nonlocal_graph(noisy, dst.kappa[0], 8, 5, 3, distance=distance,
                              self_distance=dst.self_dist)
    assert 0.0 < float(1 - a.sum(1).mean()) < 0.03      # a flat pixel's own share
    assert distance_to_source(start) < 0.5 * distance_to_source(3.0)
    (dst(x) - x).square().sum().backward()
    assert dst.self_dist.grad.abs().sum() > 0


def test_nl_blend_is_added_near_the_source_and_dropped():
    """A file without ``nl_blend`` starts a game with it at ``BLEND_START`` (the rebuilt graph
    weighs 95%, so the output stays near the source's); the other way the blend is dropped."""
    from stereo_tv.denoising._init import BLEND_START

    kw = dict(iters=4, nl_patch=3, nl_window=5, nl_k=8, nl_update_every=2)
    src = build_model("nltv-eg", 25.0, **kw)
    dst = build_model("nltv-eg", 25.0, nl_blend=True, **kw)
    info = rescale_to_sigma(dst, src, 25.0, 25.0)
    assert info["blend_start"] == BLEND_START == dst.blend.item()
    assert "added_at_zero" not in info
    x = torch.from_numpy(synthetic_image(24, 23))[None, None] + 0.1 * torch.randn(1, 1, 24, 23)
    with torch.no_grad():
        near = float((dst(x) - src(x)).abs().mean())
        dst.blend.fill_(0.0)
        assert near < 0.2 * float((dst(x) - src(x)).abs().mean())
    back = build_model("nltv-eg", 25.0, **kw)
    assert rescale_to_sigma(back, dst, 25.0, 25.0)["dropped"] == ["blend"]


def test_nl_filter_is_added_at_the_identity_and_dropped():
    """A file without ``nl_filter`` starts a game with it at the identity filter, one per
    kappa row: the same function as the source; the other way the filter is dropped."""
    kw = dict(iters=4, nl_patch=3, nl_window=5, nl_k=8, nl_update_every=2)
    src = build_model("nltv-eg", 25.0, **kw)
    dst = build_model("nltv-eg-kappas", 25.0, nl_filter=3, **kw)
    info = rescale_to_sigma(dst, src, 25.0, 25.0)
    assert info["graph_filter_start"] == "identity" and "added_at_zero" not in info
    x = torch.from_numpy(synthetic_image(24, 23))[None, None] + 0.1 * torch.randn(1, 1, 24, 23)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x))
        dst.graph_filter[0].fill_(1.0 / 9)
    again = build_model("nltv-eg-kappas", 25.0, nl_filter=3, **kw)
    rescale_to_sigma(again, dst, 25.0, 25.0)
    torch.testing.assert_close(again.graph_filter, dst.graph_filter)
    back = build_model("nltv-eg-kappas", 25.0, **kw)
    assert rescale_to_sigma(back, dst, 25.0, 25.0)["dropped"] == ["graph_filter"]


@pytest.mark.parametrize("distance", ["squared", "norm"])
def test_nl_self_rescaled_to_another_sigma_keeps_its_graph(distance):
    """An ``nl_self`` file started at another sigma keeps its self distance ``s``: ``kappa``
    is divided by the noise ratio, so on an image whose noise (and contrast) is that ratio
    larger the neighbours' distances, and with them every softmax weight, stay the same."""
    kw = dict(iters=4, nl_patch=3, nl_window=5, nl_k=8, nl_self=True, nl_distance=distance)
    src = build_model("nltv-eg", 25.0, **kw)
    with torch.no_grad():
        src.self_dist.fill_(1.7)
    dst = build_model("nltv-eg", 50.0, **kw)
    info = rescale_to_sigma(dst, src, 25.0, 50.0)
    assert info["factor"] == 2.0 and "self_dist_start" not in info
    assert dst.self_dist.item() == pytest.approx(1.7)
    torch.testing.assert_close(dst.kappa, src.kappa / 2)
    torch.manual_seed(0)
    y = torch.rand(1, 1, 12, 11)
    graph = dict(k=8, window=5, patch=3, distance=distance)
    with torch.no_grad():
        idx_a, w_a = nonlocal_graph(y, src.kappa[0], self_distance=src.self_dist, **graph)
        idx_b, w_b = nonlocal_graph(2 * y, dst.kappa[0], self_distance=dst.self_dist, **graph)
    assert torch.equal(idx_a, idx_b)
    torch.testing.assert_close(w_a, w_b)
    assert float(w_a.sum(1).max()) < 1.0         # the pixel keeps a share of its own
