"""Unrolled solvers on small problems with known behaviour."""

import torch

from stereo_tv.core.solvers import barzilai_borwein_step, extragradient, gradient_descent

D64 = torch.float64


def _bilinear_field(z, t, half):
    """min_x max_y x*y: simultaneous gradient (d/dx xy, -d/dy xy) = (y, -x); equilibrium 0."""
    return torch.stack([z[1], -z[0]])


def test_extragradient_converges_where_gradient_diverges_on_a_bilinear_game():
    z0 = torch.tensor([1.0, 1.0], dtype=D64)
    steps = torch.full((100,), 0.3, dtype=D64)
    gd = gradient_descent(z0, _bilinear_field, steps)
    eg = extragradient(z0, _bilinear_field, steps.view(-1, 1).expand(-1, 2))
    assert gd.norm() > 2 * z0.norm()        # GD spirals out: |1 + i eta|^100 > 1
    assert eg.norm() < 1e-1 * z0.norm()     # EG contracts: |1 - eta^2 + i eta| < 1


def test_gradient_descent_solves_a_quadratic_and_returns_all_iterates():
    A = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=D64)
    b = torch.tensor([1.0, -1.0], dtype=D64)
    out = gradient_descent(torch.zeros(2, dtype=D64), lambda z, t, h: A @ z - b,
                           torch.full((200,), 0.4, dtype=D64), return_all=True)
    assert len(out) == 201
    torch.testing.assert_close(out[-1], torch.linalg.solve(A, b))


def test_proximal_gradient_is_ista():
    x = torch.tensor([3.0, 0.2, -2.0], dtype=D64)

    def prox(v, eta, t, half):
        return torch.sign(v) * torch.relu(v.abs() - eta * 1.0)

    z = gradient_descent(torch.zeros(3, dtype=D64), lambda z, t, h: z - x,
                         torch.full((5,), 1.0, dtype=D64), prox=prox)
    torch.testing.assert_close(z, torch.tensor([2.0, 0.0, -1.0], dtype=D64))


def test_checkpointed_solvers_match():
    W = torch.randn(3, 3, dtype=D64, requires_grad=True)
    steps = torch.full((4, 2), 0.2, dtype=D64, requires_grad=True)
    field = lambda z, t, h: torch.tanh(W @ z) + z  # noqa: E731
    z0 = torch.randn(3, dtype=D64)
    grads = []
    for ck in (False, True):
        out = extragradient(z0, field, steps, checkpoint=ck)
        grads.append(torch.autograd.grad(out.square().sum(), (W, steps)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    def unrolled(W, s):
        return gradient_descent(z0, lambda z, t, h: torch.tanh(W @ z) + z, s[:, 0])

    assert torch.autograd.gradcheck(unrolled, (W, steps))


def test_barzilai_borwein_step_known_values():
    D = torch.diag(torch.tensor([1.0, 0.5], dtype=D64))
    s = torch.zeros(1, 2, 1, 3, dtype=D64)
    s[0, 0, 0, 0] = 1.0                   # along atom 0: ||Ds||^2 / ||D^T D s||^2 = 1
    s[0, 1, 0, 1] = 1.0                   # along atom 1: 0.25 / 0.0625 = 4
    eta = barzilai_borwein_step(s, D, fallback=0.7)
    torch.testing.assert_close(eta.flatten(), torch.tensor([1.0, 4.0, 0.7], dtype=D64))
