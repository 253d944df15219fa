"""Players' gradients of the pairwise priors: known values, gradcheck, potential games."""

import pytest
import torch

from stereo_tv.core.grid import grid_offsets, neighbour_diff
from stereo_tv.core.nonlocal_graph import nonlocal_graph
from stereo_tv.core.priors import (
    grid_game_grad,
    grid_potential,
    guide_edge_weights,
    nonlocal_game_grad,
    nonlocal_potential,
    penalty_grad,
)

from ._adjoint import assert_same_vjp

D64 = torch.float64


def _z(*shape):
    return torch.rand(*shape, dtype=D64)


def test_tv_of_a_constant_is_zero_and_ramp_is_known():
    offs = grid_offsets(4)
    const = torch.full((1, 1, 9, 7), 2.0)
    assert float(grid_potential(const, torch.ones(4), offs, "l1")) == 0.0
    ramp = torch.arange(7.0).repeat(9, 1).view(1, 1, 9, 7)
    # exact anisotropic TV: 9 rows x 6 unit steps
    assert float(grid_potential(ramp, torch.ones(4), offs, "l1")) == pytest.approx(54.0)
    assert float(grid_potential(ramp, torch.ones(4), offs, "l2")) == pytest.approx(54.0)


@pytest.mark.parametrize("penalty", ["l1", "l2"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_grid_game_grad_matches_dense_formula(penalty, connectivity):
    offs = grid_offsets(connectivity)
    z = _z(2, 2, 9, 7)
    w = torch.rand(connectivity, dtype=D64)
    alpha = torch.tensor(3.0, dtype=D64)
    d = neighbour_diff(z, offs)                                        # z_{j+o} - z_j, 0 outside
    ref = (w.view(-1, 1, 1) * penalty_grad(-d, penalty, alpha)).sum(2)
    torch.testing.assert_close(grid_game_grad(z, w, offs, penalty, alpha), ref)


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_grid_game_grad_gradcheck(penalty):
    offs = grid_offsets(8)
    z = _z(1, 2, 5, 4).requires_grad_()
    w = torch.rand(8, dtype=D64, requires_grad=True)
    alpha = torch.tensor(2.0, dtype=D64, requires_grad=penalty == "l1")
    guide = _z(1, 3, 5, 4)
    kappa = torch.rand(3, dtype=D64, requires_grad=True)

    def f(z, w, alpha, kappa):
        edge = guide_edge_weights(guide, kappa, offs)
        return grid_game_grad(z, w, offs, penalty, alpha, edge)

    assert torch.autograd.gradcheck(f, (z, w, alpha, kappa))


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_symmetric_grid_game_is_a_potential_game(penalty):
    offs = grid_offsets(8)
    z = _z(2, 1, 9, 7).requires_grad_()
    half = torch.rand(4, dtype=D64)
    w = torch.cat([half, half])                                        # a_o = a_{-o}
    alpha = torch.tensor(4.0, dtype=D64)
    edge = guide_edge_weights(_z(2, 3, 9, 7), torch.ones(3, dtype=D64), offs)
    (gv,) = torch.autograd.grad(grid_potential(z, w, offs, penalty, alpha, edge).sum(), z)
    torch.testing.assert_close(grid_game_grad(z.detach(), w, offs, penalty, alpha, edge), gv)


def test_asymmetric_grid_game_is_not_the_potential_gradient():
    offs = grid_offsets(8)
    z = _z(1, 1, 9, 7).requires_grad_()
    w = torch.rand(8, dtype=D64)
    (gv,) = torch.autograd.grad(grid_potential(z, w, offs, "l2").sum(), z)
    assert not torch.allclose(grid_game_grad(z.detach(), w, offs, "l2"), gv)


def test_constant_is_an_equilibrium_of_every_prior():
    z = torch.full((1, 1, 9, 7), 0.3, dtype=D64)
    alpha = torch.tensor(5.0, dtype=D64)
    g = grid_game_grad(z, torch.rand(8, dtype=D64), grid_offsets(8), "l1", alpha)
    assert g.abs().max() == 0
    nbr, a = nonlocal_graph(z, torch.ones(9, dtype=D64), 4, 5, 3)
    for sym in (False, True):
        assert nonlocal_game_grad(z, nbr, a, "l1", alpha, sym).abs().max() == 0


@pytest.mark.parametrize("penalty", ["l1", "l2"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_nonlocal_game_grad_gradcheck(penalty, symmetric):
    y = _z(1, 1, 6, 5)
    nbr, a = nonlocal_graph(y, torch.ones(9, dtype=D64), 4, 5, 3)
    z = _z(1, 2, 6, 5).requires_grad_()
    a = a.clone().requires_grad_()
    alpha = torch.tensor(3.0, dtype=D64, requires_grad=penalty == "l1")
    lam = torch.tensor(0.7, dtype=D64, requires_grad=True)
    f = lambda z, a, al, lam: nonlocal_game_grad(z, nbr, a, penalty, al, symmetric, lam)  # noqa: E731
    assert torch.autograd.gradcheck(f, (z, a, alpha, lam))
    torch.testing.assert_close(f(z, a, alpha, lam), f(z, lam * a, alpha, 1.0))


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_symmetric_nonlocal_is_potential_gradient_and_plain_is_own_partial(penalty):
    y = _z(1, 1, 7, 6)
    nbr, a = nonlocal_graph(y, torch.ones(9, dtype=D64), 3, 5, 3)
    alpha = torch.tensor(4.0, dtype=D64)
    z = _z(1, 1, 7, 6).requires_grad_()
    (gv,) = torch.autograd.grad(nonlocal_potential(z, nbr, a, penalty, alpha).sum(), z)
    torch.testing.assert_close(nonlocal_game_grad(z.detach(), nbr, a, penalty, alpha, True), gv)
    # own partial of player j: differentiate psi_j with the other players frozen
    j = (3, 2)
    zj = z.detach().clone()
    v = zj[0, 0, j[0], j[1]].clone().requires_grad_()
    zz = zj.clone()
    zz[0, 0, j[0], j[1]] = v
    from stereo_tv.core.nonlocal_graph import nl_diff
    from stereo_tv.core.priors import penalty_value
    psi_j = (a[0, :, j[0], j[1]] * penalty_value(-nl_diff(zz, nbr)[0, 0, :, j[0], j[1]],
                                                  penalty, alpha)).sum()
    (gj,) = torch.autograd.grad(psi_j, v)
    own = nonlocal_game_grad(z.detach(), nbr, a, penalty, alpha, False)
    torch.testing.assert_close(own[0, 0, j[0], j[1]], gj)


def test_guide_edges_are_one_on_flat_guides_and_small_across_edges():
    offs = grid_offsets(4)
    guide = torch.zeros(1, 3, 5, 6)
    guide[..., 3:] = 1.0                                               # vertical step edge
    e = guide_edge_weights(guide, torch.full((3,), 2.0), offs)
    right = e[0][0, 0]                                                 # (5, 5)
    assert torch.allclose(right[:, 2], torch.full((5,), float(torch.exp(torch.tensor(-12**.5)))))
    assert torch.allclose(right[:, [0, 1, 3, 4]], torch.ones(5, 4))


@pytest.mark.parametrize("penalty", ["l1", "l2"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("channels", [1, 2])
def test_dense_window_path_equals_the_gathered_one(penalty, symmetric, channels):
    """``window=``: on a dense window's graph (``k = window^2 - 1``, with missing neighbours at
    the borders, a softmax with the pixel in it) the shifted path gives the gathered path's
    field and the same gradients in ``z``, ``a``, ``alpha`` and the strength, including 0 for
    the missing neighbours' weights; float64 gradcheck."""
    y = _z(2, 1, 7, 6)
    nbr, a = nonlocal_graph(y, torch.rand(9, dtype=D64) + 0.5, 24, 5, 3, self_distance=0.3)
    assert (a == 0).any()                                  # missing neighbours near the borders
    z = _z(2, channels, 7, 6).requires_grad_()
    a = a.clone().requires_grad_()
    alpha = torch.tensor(3.0, dtype=D64, requires_grad=penalty == "l1")
    lam = torch.tensor(0.7, dtype=D64, requires_grad=True)
    inputs = (z, a, alpha, lam) if penalty == "l1" else (z, a, lam)

    def field(window):
        return nonlocal_game_grad(z, nbr, a, penalty, alpha, symmetric, lam, window=window)

    assert_same_vjp(field(5), field(None), inputs)
    f = lambda z, a, al, lam: nonlocal_game_grad(z, nbr, a, penalty, al, symmetric, lam,  # noqa: E731
                                                 window=5)
    assert torch.autograd.gradcheck(f, (z, a, alpha, lam))
    with pytest.raises(ValueError, match="dense 3x3 window has 8 neighbours"):
        nonlocal_game_grad(z, nbr, a, penalty, alpha, symmetric, lam, window=3)
