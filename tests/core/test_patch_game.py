"""PatchGame: sparse-coding family, contract, known values, gradients."""

import math

import numpy as np
import pytest
import torch

from stereo_tv.core import PatchGame
from stereo_tv.core.data_terms import apply_dictionary, apply_dictionary_adjoint
from stereo_tv.core.patches import patch_average, patch_average_adjoint

D64 = torch.float64


def _dct(s):
    """Orthonormal 2-D DCT basis as a (s*s, s*s) dictionary (atoms in columns)."""
    n = torch.arange(s, dtype=D64)
    c = torch.cos(math.pi * (n[None, :] + 0.5) * n[:, None] / s)
    c[0] /= math.sqrt(2)
    c *= math.sqrt(2 / s)
    return torch.kron(c, c).T


class EveryOtherColumn:
    """Keep every other column: a real linear operator with its adjoint."""

    def forward(self, z):
        return z[..., ::2]

    def adjoint(self, y):
        out = y.new_zeros(*y.shape[:-1], 2 * y.shape[-1] - 1)
        out[..., ::2] = y
        return out


def _count(game):
    return sum(p.numel() for p in game.parameters())


def test_paper_sc_parameter_count_and_repr():
    game = PatchGame(("l1",), num_atoms=256, patch_size=9, iters=24, method="gd")
    assert _count(game) == 3 * 81 * 256 + 24 * 256 + 24          # 68376, the paper's "68k"
    assert "params=68376" in repr(game)
    group = PatchGame(("group",), num_atoms=256, patch_size=9, iters=24, method="gd")
    assert _count(group) == 3 * 81 * 256 + 24 * 256 + 24 + 24 + 81   # + alpha_t + kappa
    tied = PatchGame(("l1",), num_atoms=16, patch_size=3, iters=2, untied=False)
    assert _count(tied) == 9 * 16 + 2 * 16 + 2


def test_group_prox_with_the_patch_alone_is_sparse_coding():
    """``group_prox`` with ``nl_self`` at a very negative self distance (each group the patch
    alone) computes the sparse-coding game with the same numbers (float64); ``nl_self`` at 0
    is the game without it; the group game with ``group_prox`` has no Moreau alpha."""
    torch.manual_seed(0)
    kw = dict(num_atoms=6, patch_size=3, iters=4, nl_k=3, nl_window=5, nl_update_every=2)
    sc = PatchGame(("l1",), init_l1=0.05, **kw).double()
    group = PatchGame(("group",), nl_self=True, init_self_dist=-60.0, group_prox=True,
                      **kw).double()
    assert group.log_group_alpha is None and group.self_dist is not None
    assert _count(group) == _count(sc) + 9 + 1                        # + kappa + self distance
    state = dict(sc.state_dict())
    state["group_weight"] = state.pop("l1_weight")
    group.load_state_dict({**group.state_dict(), **state})
    x = torch.rand(2, 1, 9, 7, dtype=D64)
    torch.testing.assert_close(group(x), sc(x))
    smooth = PatchGame(("group",), **kw).double()
    own = PatchGame(("group",), nl_self=True, **kw).double()
    own.load_state_dict({**smooth.state_dict(), "self_dist": torch.zeros(1, dtype=D64)})
    torch.testing.assert_close(own(x), smooth(x))
    group.self_dist.data.fill_(0.5)                  # neighbours share: not sparse coding
    assert (group(x) - sc(x)).abs().max() > 1e-4


def test_bad_arguments():
    with pytest.raises(ValueError, match="priors must be a non-empty subset of"):
        PatchGame(("l1", "wavelet"))
    with pytest.raises(ValueError, match="priors must be"):
        PatchGame(())
    with pytest.raises(ValueError, match=r"dictionary must be \(q, p\) = \(9, 4\)"):
        PatchGame(num_atoms=4, patch_size=3, dictionary=np.zeros((9, 5)))
    with pytest.raises(ValueError, match="channels=1"):
        PatchGame(num_atoms=4, patch_size=3, iters=1)(torch.rand(1, 2, 9, 7))
    with pytest.raises(ValueError, match="nl_self needs the group prior"):
        PatchGame(("l1",), nl_self=True)
    with pytest.raises(ValueError, match="group_prox needs the group prior"):
        PatchGame(("l1",), group_prox=True)
    with pytest.raises(ValueError, match="exclusive"):
        PatchGame(("group", "l1"), group_prox=True)


def test_from_dictionary_normalises_by_the_largest_singular_value():
    D = np.random.default_rng(0).standard_normal((25, 40))
    game = PatchGame.from_dictionary(D, iters=1)
    assert game.patch_size == 5 and game.num_atoms == 40
    sigma = float(torch.linalg.matrix_norm(game.D.detach().double(), 2))
    assert sigma == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(game.C, game.D)
    torch.testing.assert_close(game.W, game.D)


@pytest.mark.parametrize("size", [(9, 7), (13, 10), (2, 3)])
def test_zero_threshold_orthonormal_dictionary_is_the_identity(size):
    game = PatchGame.from_dictionary(_dct(3), iters=1, init_l1=0.0).double()
    x = torch.rand(2, 1, *size, dtype=D64)
    out = game(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)     # parameters were float32


def test_sparse_coding_denoises_a_piecewise_constant_image():
    torch.manual_seed(0)
    clean = torch.zeros(1, 1, 25, 23)
    clean[..., 6:18, 5:16] = 1.0
    noisy = clean + 0.1 * torch.randn_like(clean)
    mse = lambda a: float((a - clean).square().mean())  # noqa: E731
    for priors in [("l1",), ("l1", "variance"), ("l1", "tv")]:
        game = PatchGame.from_dictionary(_dct(5).float(), priors=priors, iters=8, init_l1=0.15)
        with torch.no_grad():
            assert mse(game(noisy)) < 0.5 * mse(noisy), priors


def test_bb_step_is_one_for_an_orthonormal_tied_dictionary():
    x = torch.rand(1, 1, 9, 8, dtype=D64)
    a = PatchGame.from_dictionary(_dct(3), iters=4, init_l1=0.1, untied=False).double()
    b = PatchGame.from_dictionary(_dct(3), iters=4, init_l1=0.1, untied=False,
                                  bb_step=True).double()
    torch.testing.assert_close(a(x), b(x))
    rng = np.random.default_rng(1)
    c = PatchGame.from_dictionary(rng.standard_normal((9, 20)), iters=4, bb_step=True)
    with torch.no_grad():
        assert not torch.allclose(c(x.float()), PatchGame.from_dictionary(
            rng.standard_normal((9, 20)), iters=4)(x.float()))


def test_module_equals_functional_with_an_operator():
    """One ISTA step from Z = 0 on 1/2||A yhat(Z) - x||^2 + lam ||Z||_1, by hand."""

    x = torch.rand(1, 1, 9, 4, dtype=D64)
    D = torch.randn(9, 6, dtype=D64)
    game = PatchGame.from_dictionary(D, iters=1, init_l1=0.02).double()
    out, Z = game(x, operator=EveryOtherColumn(), return_codes=True)
    C, Dn, W = game.C, game.D, game.W
    with torch.no_grad():
        back = EveryOtherColumn().adjoint(x)
        grad0 = -apply_dictionary_adjoint(C, patch_average_adjoint(back, 3))
        eta = game.log_step[0, 0].exp()
        v = -eta * grad0
        Z_ref = torch.sign(v) * torch.relu(v.abs() - eta * 0.02)
        torch.testing.assert_close(Z, Z_ref)
        torch.testing.assert_close(out, patch_average(apply_dictionary(W, Z_ref), 3, (9, 7)))
    assert torch.equal(Dn, game.D)


def test_return_all_and_codes():
    game = PatchGame(num_atoms=5, patch_size=3, iters=3)
    outs, Z = game(torch.rand(2, 1, 8, 6), return_all=True, return_codes=True)
    assert len(outs) == 4 and all(o.shape == (2, 1, 8, 6) for o in outs)
    assert Z.shape == (2, 5, 6, 4)
    assert torch.all(outs[0] == 0)


CONFIGS = [
    dict(priors=("l1",)),
    dict(priors=("l1",), method="extragrad", bb_step=True),
    dict(priors=("l1", "variance")),
    dict(priors=("l1", "tv"), tv_connectivity=8),
    dict(priors=("l1", "tv", "variance"), method="extragrad"),
    dict(priors=("group",), symmetric=True),
    dict(priors=("group", "variance"), several_kappa=True, nl_update_every=1),
    dict(priors=("group", "tv", "variance"), method="extragrad", checkpoint=True),
    dict(priors=("l1",), untied=False),
    dict(priors=("group", "tv"), group_prox=True, nl_self=True, init_self_dist=-1.0),
    dict(priors=("l1",), method="extragrad", bb_step=True, center=True),
    dict(priors=("group", "variance"), group_prox=True, nl_self=True, center=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: "-".join(map(str, k.values())))
def test_every_parameter_gets_a_finite_gradient(kwargs):
    channels = 2 if "variance" in kwargs["priors"] else 1
    game = PatchGame(num_atoms=6, patch_size=3, channels=channels, iters=3, nl_k=3,
                     nl_window=5, init_l1=0.01, **kwargs)
    x = torch.rand(2, channels, 9, 7)
    out = game(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    (out - torch.rand_like(x)).square().mean().backward()
    for name, p in game.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: "-".join(map(str, k.values())))
def test_inference_path_equals_the_autograd_path(kwargs):
    """Under no_grad the steps overwrite their gradient tensors in place: same output (also
    with an operator, and every iterate with ``return_all``), and the input is untouched."""
    channels = 2 if "variance" in kwargs["priors"] else 1
    game = PatchGame(num_atoms=6, patch_size=3, channels=channels, iters=3, nl_k=3,
                     nl_window=5, init_l1=0.05, **kwargs).double()
    x = torch.rand(2, channels, 9, 7, dtype=D64)
    x0 = x.clone()
    with torch.no_grad():
        fast, fast_all = game(x), game(x, return_all=True)
    torch.testing.assert_close(fast, game(x).detach())
    for a, b in zip(fast_all, game(x, return_all=True)):
        torch.testing.assert_close(a, b.detach())
    assert torch.equal(x, x0)
    if channels == 1 and not game.center:
        class Blur:                       # a real linear operator and its adjoint
            forward = adjoint = staticmethod(lambda z: 0.5 * z + 0.25 * z.roll(1, -1)
                                             + 0.25 * z.roll(-1, -1))
        with torch.no_grad():
            fast = game(x, operator=Blur())
        torch.testing.assert_close(fast, game(x, operator=Blur()).detach())


@pytest.mark.parametrize("priors", [("l1", "tv"), ("group", "variance")])
def test_batch_equals_stack_of_singles(priors):
    game = PatchGame(priors, num_atoms=6, patch_size=3, iters=3, nl_k=3, nl_window=5,
                     nl_update_every=1)
    x = torch.rand(3, 1, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(game(x), torch.cat([game(x[i:i + 1]) for i in range(3)]))


@pytest.mark.parametrize("kwargs", [dict(priors=("l1", "tv", "variance"), method="extragrad"),
                                    dict(priors=("group",), nl_update_every=1),
                                    dict(priors=("group",), nl_update_every=1, group_prox=True,
                                         nl_self=True, init_self_dist=-0.5),
                                    dict(priors=("l1", "variance"), center=True)])
def test_gradcheck_two_unrolled_iterations(kwargs):
    game = PatchGame(num_atoms=4, patch_size=3, iters=2, nl_k=2, nl_window=3, init_l1=0.02,
                     init_group=0.2, init_alpha=3.0, **kwargs).double()
    names = [n for n, _ in game.named_parameters()]
    x = torch.rand(1, 1, 5, 4, dtype=D64, requires_grad=True)

    def f(x, *params):
        return torch.func.functional_call(game, dict(zip(names, params)), (x,))

    params = tuple(p.detach().clone().requires_grad_() for p in game.parameters())
    assert torch.autograd.gradcheck(f, (x, *params))


def test_lsq_code_start_reproduces_the_input():
    """``code_init="lsq"``: ``avg(D Z_0) = x`` for an overcomplete dictionary, so with zero
    thresholds the data gradient is 0 and every iterate is the input; from zero codes it is not."""
    rng = np.random.default_rng(1)
    D = rng.standard_normal((9, 14))
    x = torch.rand(2, 1, 8, 7, dtype=D64)
    game = PatchGame.from_dictionary(D, iters=3, init_l1=0.0, code_init="lsq").double()
    outs = game(x, return_all=True)
    for out in outs:
        torch.testing.assert_close(out, x)
    zero = PatchGame.from_dictionary(D, iters=3, init_l1=0.0).double()
    assert zero.code_init == "zero" and torch.all(zero(x, return_all=True)[0] == 0)
    assert "code_init='lsq'" in repr(game)


def test_lsq_code_start_bad_arguments():
    with pytest.raises(ValueError, match="code_init must be one of"):
        PatchGame(num_atoms=12, patch_size=3, code_init="random")
    with pytest.raises(ValueError, match=r"code_init='lsq' needs num_atoms >= .* = 9, got 6"):
        PatchGame(num_atoms=6, patch_size=3, code_init="lsq")


def test_gradcheck_lsq_code_start_with_an_operator():
    """The least-squares codes are differentiable in the dictionary (a linear solve)."""
    game = PatchGame(num_atoms=10, patch_size=3, iters=2, init_l1=0.02,
                     code_init="lsq").double()
    names = [n for n, _ in game.named_parameters()]
    x = torch.rand(1, 1, 5, 3, dtype=D64, requires_grad=True)

    def f(x, *params):
        return torch.func.functional_call(game, dict(zip(names, params)), (x,),
                                          {"operator": EveryOtherColumn()})

    params = tuple(p.detach().clone().requires_grad_() for p in game.parameters())
    assert torch.autograd.gradcheck(f, (x, *params))


def test_operator_path_accepts_images_smaller_than_a_patch():
    class FFT:
        def forward(self, z):
            return torch.fft.fft2(z, norm="ortho")

        def adjoint(self, y):
            return torch.fft.ifft2(y, norm="ortho")

    game = PatchGame(num_atoms=6, patch_size=5, iters=2)
    x = torch.rand(2, 1, 4, 3)
    out = game(FFT().forward(x), operator=FFT())
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("kwargs", [dict(priors=("l1", "variance"), channels=2),
                                    dict(priors=("l1", "tv"), method="extragrad", bb_step=True),
                                    dict(priors=("group",), group_prox=True, nl_self=True,
                                         nl_update_every=1)])
def test_centred_game_is_shift_equivariant(kwargs):
    """``center=True`` codes mean-free patches and adds the means back: adding a constant to
    the image adds it to the output (the group distances ignore it too); without centring the
    constant goes through the thresholds and the output moves by something else."""
    channels = kwargs.pop("channels", 1)
    outs = {}
    for center in (True, False):
        torch.manual_seed(0)
        game = PatchGame(num_atoms=12, patch_size=3, channels=channels, iters=4, nl_k=3,
                         nl_window=5, init_l1=0.05, center=center, **kwargs).double()
        x = torch.rand(2, channels, 9, 8, dtype=D64)
        with torch.no_grad():
            outs[center] = game(x + 0.3) - game(x)
    torch.testing.assert_close(outs[True], torch.full_like(outs[True], 0.3))
    assert (outs[False] - 0.3).abs().max() > 1e-3


def test_centred_game_passes_a_constant_image_and_matches_direct_ista():
    game = PatchGame(num_atoms=12, patch_size=3, iters=5, init_l1=0.03, center=True).double()
    flat = torch.full((1, 1, 7, 6), 0.4, dtype=D64)
    with torch.no_grad():
        torch.testing.assert_close(game(flat), flat)
        # the codes of mean-free patches by plain ISTA, decoded with the means added back
        x = torch.rand(1, 1, 7, 6, dtype=D64)
        X = torch.nn.functional.unfold(x, 3).view(1, 9, 5, 4)
        M = X.mean(1, keepdim=True)
        Z = torch.zeros(1, 12, 5, 4, dtype=D64)
        for t in range(5):
            eta, lam = game.step(t), game.l1_weight[t].view(1, -1, 1, 1)
            V = Z - eta * apply_dictionary_adjoint(game.C, apply_dictionary(game.D, Z) - (X - M))
            Z = V.sign() * (V.abs() - eta * lam).clamp_min(0)
        ref = patch_average(apply_dictionary(game.W, Z) + M, 3, (7, 6))
        torch.testing.assert_close(game(x), ref)


def test_centred_game_refuses_an_operator():
    game = PatchGame(num_atoms=12, patch_size=3, iters=2, center=True)
    with pytest.raises(ValueError, match="center=True .* no operator"):
        game(torch.rand(1, 1, 6, 6), operator=EveryOtherColumn())
