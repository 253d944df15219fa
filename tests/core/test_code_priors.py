"""Code priors: weighted l1 prox, non-local group, variance reduction."""

import pytest
import torch

from stereo_tv.core.code_priors import (
    nl_group_grad,
    nl_group_potential,
    nl_group_shrink,
    variance_grad,
    variance_own_share,
    weighted_l1_prox,
)
from stereo_tv.core.data_terms import apply_dictionary
from stereo_tv.core.nonlocal_graph import nonlocal_graph
from stereo_tv.core.patches import extract_patches, patch_average, patch_coverage

D64 = torch.float64


def test_weighted_l1_prox_is_the_minimiser():
    Z = torch.randn(2, 3, 4, 5, dtype=D64)
    lam = torch.tensor([0.1, 0.5, 0.0], dtype=D64)
    P = weighted_l1_prox(Z, lam, 2.0)
    # optimality of 1/2||V - Z||^2 + 2 sum lam |V|: a perturbation never decreases the objective
    obj = lambda V: 0.5 * (V - Z).square().sum() + 2.0 * (lam.view(1, 3, 1, 1) * V.abs()).sum()  # noqa: E731
    for _ in range(20):
        assert obj(P) <= obj(P + 1e-3 * torch.randn_like(P)) + 1e-12
    assert torch.equal(P[:, 2], Z[:, 2])                       # zero threshold: unchanged
    Zg, lg = Z.clone().requires_grad_(), (lam + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda z, l: weighted_l1_prox(z, l, 0.7), (Zg, lg))


def _groups(hc=6, wc=5, k=3):
    y = torch.rand(2, 1, hc + 2, wc + 2, dtype=D64)
    return nonlocal_graph(y, torch.ones(9, dtype=D64), k, 5, 3, "valid", include_self=True)


def test_group_gradcheck_and_potential():
    nbr, a = _groups()
    Z = torch.randn(2, 4, 6, 5, dtype=D64, requires_grad=True)
    lam = torch.rand(4, dtype=D64, requires_grad=True)
    alpha = torch.tensor(2.0, dtype=D64, requires_grad=True)
    for sym in (False, True):
        f = lambda Z, lam, alpha, sym=sym: nl_group_grad(Z, nbr, a, lam, alpha, sym)  # noqa: E731
        assert torch.autograd.gradcheck(f, (Z, lam, alpha))
    (gv,) = torch.autograd.grad(nl_group_potential(Z, nbr, a, lam, alpha).sum(), Z)
    torch.testing.assert_close(nl_group_grad(Z, nbr, a, lam, alpha, True), gv)


def test_group_shrink_is_the_l1_prox_for_singleton_groups_and_gradchecks():
    """``nl_group_shrink``: with all the weight on the position itself it is the weighted-l1
    prox; with groups it scales each code by ``max(0, 1 - tau / ||u||)`` (a code whose group is
    large is shrunk less than alone); float64 gradcheck in the codes, strengths and weights."""
    nbr, a = _groups()
    Z = torch.randn(2, 4, 6, 5, dtype=D64)
    lam = torch.tensor([0.0, 0.3, 0.8, 2.0], dtype=D64)
    alone = torch.zeros_like(a)
    alone[:, 0] = 1.0
    torch.testing.assert_close(nl_group_shrink(Z, nbr, alone, lam, 0.5),
                               weighted_l1_prox(Z, lam, 0.5))
    out = nl_group_shrink(Z, nbr, a, lam, 0.5)
    sq = sum(a[:, r:r + 1] * Z.flatten(2).gather(
        2, nbr[:, r].flatten(1)[:, None].expand(-1, 4, -1)).view_as(Z).square()
        for r in range(nbr.shape[1]))
    torch.testing.assert_close(out, Z * torch.relu(1 - 0.5 * lam.view(1, 4, 1, 1) / sq.sqrt()))
    with torch.no_grad():                     # inference: the same values, written into V
        V = Z.clone()
        assert nl_group_shrink(V, nbr, a, lam, 0.5, inplace=True) is V
    torch.testing.assert_close(V, out)
    Zg, lg, ag = Z.clone().requires_grad_(), (lam + 0.05).requires_grad_(), a.clone()
    ag.requires_grad_()
    assert torch.autograd.gradcheck(lambda z, l, w: nl_group_shrink(z, nbr, w, l, 0.3),
                                    (Zg, lg, ag))


def test_group_own_partial_is_the_derivative_of_the_own_objective():
    nbr, a = _groups()
    Z = torch.randn(1, 3, 6, 5, dtype=D64)
    Z = torch.cat([Z, Z])
    lam = torch.rand(3, dtype=D64)
    alpha = torch.tensor(3.0, dtype=D64)
    g = nl_group_grad(Z, nbr, a, lam, alpha, False)
    j = (2, 3)
    flat = j[0] * 5 + j[1]
    zj = Z[0, :, j[0], j[1]].clone().requires_grad_()
    Zf = Z[0].reshape(3, -1).clone()
    members = nbr[0, :, j[0], j[1]]
    assert members[0] == flat
    cols = [zj if int(m) == flat else Zf[:, int(m)] for m in members]
    u = torch.stack(cols, 1) * a[0, :, j[0], j[1]].sqrt()     # (p, k+1)
    sq = u.square().sum(1)
    norm = sq.sqrt()
    env = torch.where(norm * alpha <= 1, 0.5 * alpha * sq, norm - 0.5 / alpha)
    (gj,) = torch.autograd.grad((lam * env).sum(), zj)
    torch.testing.assert_close(g[0, :, j[0], j[1]], gj)


@pytest.mark.parametrize("with_offset", [False, True])
def test_variance_gradient_is_the_own_partial_derivative(with_offset):
    """``||W z_j + o_j - P_j avg(W Z + O)||^2`` differentiated in ``z_j`` alone (``O = 0``, or
    the patch means of a centred game)."""
    s, size = 3, (8, 7)
    W = torch.randn(9, 4, dtype=D64)
    Z = torch.randn(1, 4, 6, 5, dtype=D64)
    O = torch.randn(1, 9, 6, 5, dtype=D64) if with_offset else torch.zeros(1, 9, 6, 5, dtype=D64)
    g = variance_grad(Z, W, s, size, offset=O if with_offset else None)
    j = (1, 4)                                                # near the right border
    zj = Z[0, :, j[0], j[1]].clone().requires_grad_()
    mask = torch.zeros_like(Z)
    mask[0, :, j[0], j[1]] = 1
    Zj = Z * (1 - mask) + mask * zj.view(1, 4, 1, 1)
    R = apply_dictionary(W, Zj) + O
    yhat = patch_average(R, s, size)
    psi_j = (R - extract_patches(yhat, s))[0, :, j[0], j[1]].square().sum()
    (gj,) = torch.autograd.grad(psi_j, zj)
    torch.testing.assert_close(g[0, :, j[0], j[1]], gj)
    Zg = Z.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda z, w: variance_grad(z, w, s, size),
                                    (Zg, W.clone().requires_grad_()))


def test_variance_gradient_in_place_path_matches_autograd_path():
    """Without autograd, ``out`` / ``scale`` / ``own`` give ``out + scale * grad`` in place (the
    patch game's inference path), the same values as the autograd path."""
    s, size = 3, (9, 8)
    W = torch.randn(18, 5, dtype=D64)                          # 2 channels
    Z = torch.randn(2, 5, 7, 6, dtype=D64)
    ref = variance_grad(Z, W, s, size)
    base = torch.randn_like(ref)
    mu = torch.tensor(0.3, dtype=D64)
    with torch.no_grad():
        out = base.clone()
        own = variance_own_share(patch_coverage(size, s, Z), s, 2)
        res = variance_grad(Z, W, s, size, own=own, scale=mu, out=out)
    assert res is out
    torch.testing.assert_close(res, base + mu * ref)
    torch.testing.assert_close(variance_grad(Z, W, s, size, scale=mu, out=base), base + mu * ref)
