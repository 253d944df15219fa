"""PixelGame: contract, parameter counts, equilibria, potential decrease, reference solve."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from stereo_tv.core import PixelGame, extragradient, gradient_descent, grid_game_grad, grid_offsets
from stereo_tv.core.data_terms import pixel_data_grad

from ._adjoint import assert_same_vjp

D64 = torch.float64


def _count(game):
    return sum(p.numel() for p in game.parameters())


@pytest.mark.parametrize("kwargs,expected", [
    (dict(prior="tv", method="extragrad"), 480),                  # paper: TV asym EG 480
    (dict(prior="tv", method="gd"), 240),                         # paper: TV asym 240
    (dict(prior="tv", method="gd", symmetric=True, shared_weight=True), 72),       # paper 72
    (dict(prior="tv", method="extragrad", symmetric=True, shared_weight=True), 144),  # 144
    (dict(prior="tv", method="gd", symmetric=True), 144),
    (dict(prior="laplacian", method="extragrad"), 432),
    (dict(prior="nltv", method="extragrad", nl_patch=9), 225),     # paper 226
    (dict(prior="nltv", method="extragrad", nl_patch=9, several_kappa=True), 306),  # paper 307
    (dict(prior="nltv", method="gd", nl_patch=9), 153),            # paper 154
    (dict(prior="nltv", method="extragrad", nl_patch=9, nl_self=True), 226),
    (dict(prior="nltv", method="extragrad", nl_patch=9, several_kappa=True, nl_self=True), 307),
    (dict(prior="nltv", method="gd", nl_patch=9, nl_self=True), 154),
    (dict(prior="nltv", method="extragrad", nl_patch=9, nl_blend=True), 226),
    (dict(prior="nltv", method="extragrad", nl_patch=9, several_kappa=True, nl_blend=True), 307),
    (dict(prior="nltv", method="gd", nl_patch=9, nl_blend=True, nl_self=True), 155),
    (dict(prior="nltv", method="extragrad", nl_patch=9, nl_filter=3), 225 + 9),
    (dict(prior="nltv", method="extragrad", nl_patch=9, several_kappa=True, nl_filter=3),
     306 + 2 * 9),
    (dict(prior="tv", connectivity=4, guided=True), 24 * 2 * 6 + 3),
])
def test_parameter_counts(kwargs, expected):
    game = PixelGame(**kwargs)
    assert _count(game) == expected
    assert f"params={expected}" in repr(game)


def test_bad_arguments_name_the_valid_values():
    with pytest.raises(ValueError, match="prior must be one of"):
        PixelGame("tgv")
    with pytest.raises(ValueError, match="method must be one of"):
        PixelGame(method="adam")
    with pytest.raises(ValueError, match="guided=True needs a grid prior"):
        PixelGame("nltv", guided=True)
    with pytest.raises(ValueError, match="nl_distance must be one of"):
        PixelGame("nltv", nl_distance="l1")
    game = PixelGame(iters=1)
    with pytest.raises(ValueError, match=r"x must be \(B, C, H, W\)"):
        game(torch.rand(9, 7))
    with pytest.raises(ValueError, match="channels=1"):
        game(torch.rand(1, 3, 9, 7))
    with pytest.raises(ValueError, match="weight must be"):
        game(torch.rand(1, 1, 9, 7), weight=torch.rand(1, 1, 9, 6))
    with pytest.raises(ValueError, match="guided=False"):
        game(torch.rand(1, 1, 9, 7), guide=torch.rand(1, 3, 9, 7))
    with pytest.raises(ValueError, match="pass guide"):
        PixelGame(guided=True, iters=1)(torch.rand(1, 1, 9, 7))


@pytest.mark.parametrize("prior", ["tv", "laplacian", "nltv", "nllaplacian"])
@pytest.mark.parametrize("method", ["gd", "extragrad"])
def test_constant_image_stays_constant(prior, method):
    game = PixelGame(prior, iters=4, method=method, nl_update_every=2, nl_k=4, nl_window=5,
                     nl_patch=3)
    x = torch.full((2, 1, 9, 7), 0.4)
    torch.testing.assert_close(game(x), x)


def test_zero_weight_is_the_identity_and_output_keeps_device_dtype():
    x = torch.rand(1, 1, 9, 7, dtype=D64)
    game = PixelGame(iters=3, init_weight=0.0).double()
    out = game(x)
    assert out.dtype == D64 and out.shape == x.shape
    torch.testing.assert_close(out, x)


@pytest.mark.parametrize("prior", ["tv", "laplacian"])
def test_symmetric_potential_decreases_every_iteration(prior):
    torch.manual_seed(1)
    x = torch.rand(2, 1, 11, 9, dtype=D64)
    game = PixelGame(prior, iters=15, method="gd", symmetric=True, init_step=0.05,
                     init_alpha=5.0, init_weight=0.1).double()
    with torch.no_grad():
        zs = game(x, return_all=True)
        v = torch.stack([game.potential(z, x) for z in zs])           # (K+1, B)
    assert len(zs) == 16
    assert (v[1:] < v[:-1]).all(), v


def test_symmetric_nonlocal_potential_decreases_with_a_fixed_graph():
    x = torch.rand(1, 1, 10, 9, dtype=D64)
    game = PixelGame("nltv", iters=10, method="gd", symmetric=True, init_step=0.1,
                     init_weight=0.5, nl_update_every=100, nl_k=4, nl_window=5,
                     nl_patch=3).double()
    with torch.no_grad():
        zs = game(x, return_all=True)
        graph = game.build_graph(x, 0)
        v = torch.stack([game.potential(z, x, graph=graph) for z in zs])
    assert (v[1:] < v[:-1]).all(), v


def _reference_smoothed_tv(x, lam, alpha):
    """Independent numpy/scipy solve of 1/2||z-x||^2 + lam * sum_edges huber_alpha(z_k - z_j)
    on the 8-connected grid (each unordered edge once)."""
    h, w = x.shape
    pairs = [((slice(None), slice(1, None)), (slice(None), slice(None, -1))),     # right
             ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),     # down
             ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),  # diag
             ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None)))]  # anti

    def f(zf):
        z = zf.reshape(h, w)
        val = 0.5 * np.sum((z - x) ** 2)
        grad = z - x
        for dst, src in pairs:
            e = z[dst] - z[src]
            small = np.abs(e) <= 1.0 / alpha
            val += lam * np.sum(np.where(small, 0.5 * alpha * e ** 2, np.abs(e) - 0.5 / alpha))
            de = lam * np.clip(alpha * e, -1.0, 1.0)
            grad[dst] += de
            grad[src] -= de
        return val, grad.ravel()

    res = minimize(f, x.ravel().copy(), jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-12})
    return res.x.reshape(h, w)


@pytest.mark.parametrize("method", ["gd", "extragrad"])
def test_200_iterations_match_an_independent_reference(method):
    rng = np.random.default_rng(0)
    x = np.clip(np.kron(rng.random((3, 3)), np.ones((4, 3)))[:11, :9]
                + 0.1 * rng.standard_normal((11, 9)), 0, 1)
    lam, alpha = 0.08, 8.0
    ref = _reference_smoothed_tv(x, lam, alpha)
    game = PixelGame("tv", iters=200, method=method, symmetric=True, shared_weight=True,
                     init_step=0.08, init_alpha=alpha, init_weight=lam).double()
    with torch.no_grad():
        z = game(torch.from_numpy(x).view(1, 1, 11, 9))
    assert np.abs(z[0, 0].numpy() - ref).max() < 1e-4
    assert np.abs(ref - x).max() > 1e-2                               # the prior did something


@pytest.mark.parametrize("prior", ["tv", "nltv"])
def test_batch_equals_stack_of_singles(prior):
    game = PixelGame(prior, iters=3, nl_update_every=2, nl_k=4, nl_window=5, nl_patch=3)
    x = torch.rand(3, 1, 9, 7)
    with torch.no_grad():
        batch = game(x)
        singles = torch.cat([game(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, singles)


@pytest.mark.parametrize("method", ["gd", "extragrad"])
def test_module_equals_functional_solver(method):
    torch.manual_seed(2)
    game = PixelGame("tv", iters=3, method=method)
    with torch.no_grad():
        for p in game.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.rand(2, 1, 9, 7)
    offs = grid_offsets(8)

    def field(z, t, half):
        a = game.weight[t, half]
        alpha = game.log_alpha[t, half].exp()
        return pixel_data_grad(z, x) + grid_game_grad(z, a, offs, "l1", alpha)

    solver = gradient_descent if method == "gd" else extragradient
    steps = game.log_step.exp()
    with torch.no_grad():
        torch.testing.assert_close(game(x), solver(x, field, steps[:, 0] if method == "gd"
                                                   else steps))


def test_checkpointing_gives_the_same_values_and_gradients():
    x = torch.rand(1, 1, 9, 7)
    g1 = PixelGame("tv", iters=3)
    g2 = PixelGame("tv", iters=3, checkpoint=True)
    g2.load_state_dict(g1.state_dict())
    out1, out2 = g1(x), g2(x)
    torch.testing.assert_close(out1, out2)
    out1.square().sum().backward()
    out2.square().sum().backward()
    for p1, p2 in zip(g1.parameters(), g2.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad)


CONFIGS = [
    dict(prior="tv", method="extragrad"),
    dict(prior="tv", method="gd", symmetric=True),
    dict(prior="tv", method="gd", symmetric=True, shared_weight=True, connectivity=4),
    dict(prior="laplacian", method="extragrad"),
    dict(prior="tv", method="extragrad", guided=True, guide_channels=3),
    dict(prior="nltv", method="extragrad", several_kappa=True, nl_update_every=2),
    dict(prior="nltv", method="gd", symmetric=True, nl_update_every=2),
    dict(prior="nllaplacian", method="extragrad", nl_update_every=2),
    dict(prior="tv", method="extragrad", checkpoint=True),
    dict(prior="nltv", method="extragrad", checkpoint=True, nl_update_every=2),
    dict(prior="nltv", method="extragrad", nl_self=True, nl_update_every=2),
    dict(prior="nltv", method="extragrad", nl_blend=True, nl_update_every=2),
    dict(prior="nltv", method="extragrad", several_kappa=True, nl_filter=3, nl_update_every=2),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: "-".join(f"{v}" for v in k.values()))
def test_every_parameter_gets_a_finite_gradient(kwargs):
    kwargs = dict(kwargs, iters=4)
    if kwargs["prior"].startswith("nl"):
        kwargs.update(nl_k=4, nl_window=5, nl_patch=3)
    game = PixelGame(**kwargs)
    x = torch.rand(2, 1, 9, 7)
    guide = torch.rand(2, 3, 9, 7) if kwargs.get("guided") else None
    weight = torch.rand(2, 1, 9, 7)
    out = game(x, weight=weight, guide=guide)
    assert out.shape == x.shape and torch.isfinite(out).all()
    (out - torch.rand_like(x)).square().mean().backward()
    for name, p in game.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


_DENSE = {"nl_k": 8, "nl_self": True, "nl_blend": True}    # the shipped files' dense window


@pytest.mark.parametrize("prior,nl", [("tv", ""), ("nltv", ""), ("nltv", "nl_self"),
                                      ("nltv", "nl_blend"), ("nltv", "nl_filter"),
                                      ("nltv", "dense")])
@pytest.mark.parametrize("method", ["gd", "extragrad"])
def test_gradcheck_two_unrolled_iterations(prior, nl, method):
    kw = {nl: 3 if nl == "nl_filter" else True} if nl else {}
    kw = {"nl_k": 3, **(_DENSE if nl == "dense" else kw)}
    game = PixelGame(prior, iters=2, method=method, nl_update_every=1, nl_window=3,
                     nl_patch=3, init_weight=0.3, init_alpha=3.0, **kw).double()
    names = [n for n, _ in game.named_parameters()]
    x = torch.rand(1, 1, 5, 4, dtype=D64, requires_grad=True)

    def f(x, *params):
        return torch.func.functional_call(game, dict(zip(names, params)), (x,))

    params = tuple(p.detach().clone().requires_grad_() for p in game.parameters())
    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("symmetric", [False, True])
def test_dense_window_game_equals_the_gathered_one(symmetric, monkeypatch):
    """A dense window (``nl_k = nl_window^2 - 1``) takes the shifted path of
    ``nonlocal_game_grad``; the gathered path gives the same output and parameter gradients."""
    import stereo_tv.core.pixel_game as pg

    torch.manual_seed(0)
    game = PixelGame("nltv", iters=4, nl_update_every=2, nl_window=5, nl_patch=3,
                     init_weight=0.5, symmetric=symmetric, **{**_DENSE, "nl_k": 24}).double()
    x = torch.rand(2, 1, 9, 8, dtype=D64)
    params = tuple(game.parameters())
    out = game(x)
    gathered = pg.nonlocal_game_grad
    monkeypatch.setattr(pg, "nonlocal_game_grad",
                        lambda *a, window=None, **k: gathered(*a, **k))
    assert_same_vjp(out, game(x), params)


def test_nl_blend_mixes_the_rebuilt_graph_with_the_previous_one():
    """``nl_blend``: a large blend logit is the plain game (a rebuild replaces the graph), a
    very negative one keeps the first graph for good, and in between the output moves."""
    torch.manual_seed(0)
    kw = dict(iters=4, nl_update_every=2, nl_k=4, nl_window=5, nl_patch=3, init_weight=0.5)
    plain = PixelGame("nltv", **kw).double()
    x = torch.rand(1, 1, 9, 8, dtype=D64)

    def blended(logit):
        game = PixelGame("nltv", nl_blend=True, init_blend=logit, **kw).double()
        game.load_state_dict(plain.state_dict(), strict=False)
        return game(x)

    torch.testing.assert_close(blended(40.0), plain(x))
    never = PixelGame("nltv", **dict(kw, nl_update_every=4)).double()
    never.load_state_dict(plain.state_dict())
    torch.testing.assert_close(blended(-40.0), never(x))
    assert (blended(0.0) - plain(x)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="need a non-local prior"):
        PixelGame("tv", nl_blend=True)


def test_nl_filter_starts_at_the_identity_and_filters_the_graph_guide():
    """``nl_filter``: at its identity start the game is the plain one; the graph is then built
    on the estimate convolved with ``graph_filter[g]`` (replicate padding), checked against a
    direct 3x3 convolution, and a smoothing filter changes the output."""
    torch.manual_seed(0)
    kw = dict(iters=4, nl_update_every=2, nl_k=4, nl_window=5, nl_patch=3, init_weight=0.5,
              several_kappa=True)
    plain = PixelGame("nltv", **kw).double()
    game = PixelGame("nltv", nl_filter=3, **kw).double()
    game.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(2, 1, 9, 8, dtype=D64)
    torch.testing.assert_close(game(x), plain(x))
    with torch.no_grad():
        game.graph_filter[1] = torch.rand(9, dtype=D64)
    f = game.graph_filter[1].detach().view(3, 3)
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    direct = sum(f[i, j] * xp[..., i:i + 9, j:j + 8] for i in range(3) for j in range(3))
    torch.testing.assert_close(game.filtered(x, 1), direct)
    torch.testing.assert_close(game.filtered(x, 0), x)
    assert (game(x) - plain(x)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="need a non-local prior"):
        PixelGame("tv", nl_filter=3)
    with pytest.raises(ValueError, match="nl_filter must be 0 or an odd side"):
        PixelGame("nltv", nl_filter=2)


class _Mask:
    """Masked identity: a tiny linear operator with .forward / .adjoint."""

    def __init__(self, m):
        self.m = m

    def forward(self, z):
        return self.m * z

    def adjoint(self, y):
        return self.m * y


class _FFT:
    """Orthonormal FFT (complex measurements, complex adjoint -> real part taken)."""

    def forward(self, z):
        return torch.fft.fft2(z, norm="ortho")

    def adjoint(self, y):
        return torch.fft.ifft2(y, norm="ortho")


def test_operator_data_term_matches_weighted_denoising():
    x = torch.rand(2, 1, 9, 7, dtype=D64)
    m = (torch.rand(1, 1, 9, 7) > 0.4).to(D64)
    game = PixelGame("tv", iters=5).double()
    with torch.no_grad():
        a = game(m * x, operator=_Mask(m), init=x)
        b = game(x, weight=m.expand_as(x), init=x)
        torch.testing.assert_close(a, b)
        # a unitary operator is the identity data term; default init is A^T x = x
        torch.testing.assert_close(game(_FFT().forward(x), operator=_FFT()), game(x))


def test_weight_and_operator_are_exclusive():
    with pytest.raises(ValueError, match="cannot be combined"):
        PixelGame(iters=1)(torch.rand(1, 1, 4, 4), weight=torch.ones(1, 1, 4, 4),
                           operator=_FFT())


def test_denoising_improves_psnr_on_a_piecewise_constant_image():
    torch.manual_seed(0)
    clean = torch.zeros(1, 1, 31, 29)
    clean[..., 8:22, 6:20] = 1.0
    noisy = clean + 0.1 * torch.randn_like(clean)
    for prior in ("tv", "nltv"):
        game = PixelGame(prior, iters=24, init_weight=0.05 if prior == "tv" else 0.3)
        with torch.no_grad():
            out = game(noisy)
        assert (out - clean).square().mean() < 0.5 * (noisy - clean).square().mean(), prior
