"""``PixelGame``: trainable pixel-level priors (TV, Laplacian, NLTV, non-local Laplacian) solved
by unrolled gradient / extra-gradient (paper Sec. 3.1-3.3, Table A4).

Player ``j`` owns the pixel value ``z_j`` (per channel) and solves

    ``min_{z_j}  w_j / 2 (z_j - x_j)^2 + psi_j(Z)``   (or ``1/2 ||A z - x||^2`` with an operator)

with ``psi_j = lambda sum_{k in N_j} a_jk phi(z_j - z_k)`` (:mod:`.priors`). The simultaneous
gradient ``H_t(z) = grad h(z) + [d psi_j / d z_j]_j`` uses learned, iteration-dependent
quantities:

* ``log_step[t, half]``: step ``eta = exp(log_step)``;
* ``log_alpha[t, half]``: Moreau-Yosida smoothing ``alpha = exp(log_alpha)`` (TV / NLTV only);
* ``weight[t, half]``: grid priors: one weight per offset (asymmetric, ``a_o != a_{-o}``), per
  unordered direction (``symmetric``), or one for all (``shared_weight``); non-local priors: the
  prior strength ``lambda`` (the ``a_jk`` are softmax weights of the graph);
* ``kappa[g]``: non-local patch-distance weights (one row per graph update with
  ``several_kappa``);
* ``graph_filter[g]``: with ``nl_filter``, a learned linear filter applied to the estimate before
  the patch distances of graph rebuild ``g`` (one per ``kappa`` row);
* ``guide_kappa``: edge-aware weights ``a_o * exp(-||kappa * (I_j - I_{j+o})||)`` (``guided``).

Parameter counts (8-connectivity, K = 24; ``iters * halves * (weights + step [+ alpha])``):

    TV asym GD 240, TV asym EG 480 (paper Table A4: 240, 480)
    TV sym GD 144, EG 288; with shared_weight=True 72 / 144 (paper: 72 / 144)
    Laplacian asym GD 216, EG 432 (no alpha; paper 240 / 480)
    NLTV EG, patch 9: 144 + 81 = 225, several kappa 306 (paper 226 / 307)
    NLTV EG, default patch 5: 144 + 25 = 169
    nl_self: one more, the self distance: 226 / 307, GD 154, the paper's counts
    nl_blend: one more, the graph blend: 226 / 307 alone, 227 / 308 with nl_self
    nl_filter=3: 9 more per kappa row (an extension, not in the paper)

Step-size condition: ``h`` is ``max_j w_j``-smooth (1 for an operator with ``||A^T A|| <= 1``)
and the smoothed prior ``2 alpha sum_o |a_o|``-smooth (``4 sum_o |a_o|`` for the Laplacian), so
``eta_t <= 1 / (max w + 2 alpha sum |a|)`` is safe; the default initial step is that bound
(paper Sec. 3.3, ``eta_0 <= 1 / L``) and the steps are then learned.

Example (a constant image is an equilibrium, so it is returned unchanged):
    >>> game = PixelGame("tv", iters=3)
    >>> x = torch.full((1, 1, 9, 7), 0.25)
    >>> bool(torch.allclose(game(x), x))
    True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .data_terms import operator_data_grad, pixel_data_grad
from .grid import grid_offsets
from .nonlocal_graph import DISTANCES, blend_graphs, nonlocal_graph
from .priors import (
    grid_game_grad,
    grid_potential,
    guide_edge_weights,
    nonlocal_game_grad,
    nonlocal_potential,
)
from .solvers import maybe_checkpoint

__all__ = ["PixelGame", "PIXEL_PRIORS", "SOLVERS"]

# prior name -> (graph, penalty)
PIXEL_PRIORS = {
    "tv": ("grid", "l1"),
    "laplacian": ("grid", "l2"),
    "nltv": ("nonlocal", "l1"),
    "nllaplacian": ("nonlocal", "l2"),
}
# solver name -> number of half-steps (each with its own learned parameters)
SOLVERS = {"gd": 1, "extragrad": 2}
_DEFAULT_WEIGHT = {"tv": 0.04, "laplacian": 0.04, "nltv": 0.3, "nllaplacian": 0.3}


def _check_choice(name: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {sorted(valid)}, got {value!r}")


class PixelGame(nn.Module):
    """Unrolled pixel game ``z_K(x)`` (see the module docstring).

    Args:
        prior: ``"tv"``, ``"laplacian"``, ``"nltv"`` or ``"nllaplacian"``.
        iters: number of unrolled iterations ``K``.
        method: ``"gd"`` (eq. 7) or ``"extragrad"`` (eq. 8).
        symmetric: grid: tie ``a_o = a_{-o}`` (potential game); non-local: descend the
            potential ``1/2 sum_j psi_j`` (symmetrised weights).
        connectivity: 4 or 8 (grid priors).
        channels: channels ``C`` of ``x`` / ``z`` (weights are shared by the channels).
        guided: edge-aware grid weights from a guide image passed to ``forward``.
        guide_channels: channels ``G`` of the guide.
        shared_weight: one grid weight for all offsets (the paper's 3-parameter symmetric TV).
        nl_k: neighbours per pixel of the non-local graph.
        nl_window: odd side of the search window.
        nl_patch: odd side of the similarity patch (``kappa`` has ``C * nl_patch^2`` entries).
        nl_update_every: rebuild the graph on the current estimate every this many iterations
            (12 = the paper's frequency 1/12 for K = 24).
        several_kappa: a separate ``kappa`` for each graph rebuild.
        nl_distance: ``"squared"`` (softmax of ``||diag(kappa) (P_j z - P_k z)||^2``) or
            ``"norm"`` (of its square root, the paper's text); see
            :func:`~stereo_tv.core.nonlocal_graph.nonlocal_graph`.
        nl_self: count the pixel itself in the softmax normalisation, ``j in N_j``, at a learned
            distance ``self_dist`` (one scalar, initially ``init_self_dist``; 0 is its own
            patch's distance): the ``a_jk`` then sum to less than 1 where ``j`` is
            unlike its neighbours, so edges and textures are smoothed less (``self_distance``
            of :func:`~stereo_tv.core.nonlocal_graph.nonlocal_graph`). Default False (every
            pixel's weights sum to 1).
        init_self_dist: initial ``self_dist`` (``nl_self``).
        nl_blend: blend each rebuilt graph with the previous one, ``a = (1 - w) a_old + w a_new``
            with ``w = sigmoid(blend)``, one learned scalar (the similarity update of the
            authors' GroupSC code, whose one parameter besides ``kappa`` matches the paper's
            counts: 81 + 144 + 1 = 226). Default False (a rebuild replaces the graph).
        init_blend: initial ``blend`` logit (``nl_blend``; 1, GroupSC's start, gives the new
            graph 73%).
        nl_filter: odd side of a learned linear filter applied to the estimate before the
            patch distances of each graph build (one filter per ``kappa`` row), starting at the
            identity; 0 (the default) computes the distances on the estimate itself, as the
            paper does. Not in the paper: a classical non-local TV measures its similarities
            on a pre-smoothed image, and a filter learned with ``kappa`` is a non-diagonal
            patch metric.
        init_step: initial ``eta`` (> 0); default ``1 / L`` for the initial weights, with
            ``L = 1 + c * sum_o |a_o|`` (grid) or ``1 + c * lambda`` (non-local) and
            ``c = 2 alpha`` (TV) or ``4`` (Laplacian), the paper's ``eta_0 <= 1 / L`` (Sec. 3.3).
        init_alpha: initial ``alpha`` (> 0).
        init_weight: initial weight (grid: per offset; non-local: ``lambda``); 0 gives the
            identity for denoising. Default: 0.04 (grid), 0.3 (non-local), tuned by hand for
            Gaussian noise of std 0.1 on [0, 1] images before any training.
        init_kappa: initial value of every ``kappa`` entry.
        init_guide_kappa: initial value of every ``guide_kappa`` entry.
        checkpoint: activation checkpointing per iteration (saves training memory).
    """

    def __init__(
        self,
        prior: str = "tv",
        iters: int = 24,
        method: str = "extragrad",
        symmetric: bool = False,
        connectivity: int = 8,
        channels: int = 1,
        guided: bool = False,
        guide_channels: int = 3,
        shared_weight: bool = False,
        nl_k: int = 9,
        nl_window: int = 15,
        nl_patch: int = 5,
        nl_update_every: int = 12,
        several_kappa: bool = False,
        nl_distance: str = "squared",
        nl_self: bool = False,
        init_self_dist: float = 0.0,
        nl_blend: bool = False,
        init_blend: float = 1.0,
        nl_filter: int = 0,
        init_step: float | None = None,
        init_alpha: float = 10.0,
        init_weight: float | None = None,
        init_kappa: float = 1.0,
        init_guide_kappa: float = 1.0,
        checkpoint: bool = False,
    ):
        super().__init__()
        _check_choice("prior", prior, PIXEL_PRIORS)
        _check_choice("method", method, SOLVERS)
        _check_choice("connectivity", connectivity, (4, 8))
        if iters < 1 or channels < 1 or nl_update_every < 1 or nl_k < 1:
            raise ValueError("iters, channels, nl_k and nl_update_every must be >= 1, got "
                             f"{iters}, {channels}, {nl_k}, {nl_update_every}")
        if (init_step is not None and init_step <= 0) or init_alpha <= 0:
            raise ValueError(f"init_step and init_alpha must be > 0, got {init_step}, {init_alpha}")
        self.prior, self.method, self.iters = prior, method, iters
        self.graph, self.penalty = PIXEL_PRIORS[prior]
        if (nl_self or nl_blend or nl_filter) and self.graph != "nonlocal":
            raise ValueError(f"nl_self / nl_blend / nl_filter need a non-local prior, got "
                             f"{prior!r}")
        if nl_filter < 0 or (nl_filter and nl_filter % 2 != 1):
            raise ValueError(f"nl_filter must be 0 or an odd side, got {nl_filter}")
        if guided and self.graph != "grid":
            raise ValueError(f"guided=True needs a grid prior ('tv' or 'laplacian'), got {prior!r}")
        self.symmetric, self.connectivity, self.channels = symmetric, connectivity, channels
        self.guided, self.shared_weight = guided, shared_weight
        self.nl_k, self.nl_window, self.nl_patch = nl_k, nl_window, nl_patch
        self.nl_update_every, self.several_kappa = nl_update_every, several_kappa
        _check_choice("nl_distance", nl_distance, DISTANCES)
        self.nl_distance, self.nl_self, self.nl_blend = nl_distance, bool(nl_self), bool(nl_blend)
        self.nl_filter = int(nl_filter)
        self.checkpoint = checkpoint
        self.offsets = grid_offsets(connectivity)
        halves = SOLVERS[method]
        init_weight = _DEFAULT_WEIGHT[prior] if init_weight is None else init_weight
        if self.graph == "grid":
            n_dir = len(self.offsets)
            n_w = 1 if shared_weight else (n_dir // 2 if symmetric else n_dir)
            total_weight = n_dir * abs(init_weight)
        else:
            n_w = 1
            total_weight = abs(init_weight)
        if init_step is None:                  # eta_0 = 1 / L (Sec. 3.3)
            curvature = 2.0 * init_alpha if self.penalty == "l1" else 4.0
            init_step = 1.0 / (1.0 + curvature * total_weight)

        self.log_step = nn.Parameter(torch.full((iters, halves), math.log(init_step)))
        if self.penalty == "l1":
            self.log_alpha = nn.Parameter(torch.full((iters, halves), math.log(init_alpha)))
        else:
            self.register_parameter("log_alpha", None)
        self.weight = nn.Parameter(torch.full((iters, halves, n_w), float(init_weight)))
        if self.graph == "nonlocal":
            if nl_window % 2 != 1 or nl_patch % 2 != 1:
                raise ValueError(f"nl_window and nl_patch must be odd, got {nl_window}, {nl_patch}")
            n_kappa = math.ceil(iters / nl_update_every) if several_kappa else 1
            q = channels * nl_patch * nl_patch
            self.kappa = nn.Parameter(torch.full((n_kappa, q), float(init_kappa)))
        else:
            self.register_parameter("kappa", None)
        if self.graph == "nonlocal" and self.nl_self:
            self.self_dist = nn.Parameter(torch.full((1,), float(init_self_dist)))
        else:
            self.register_parameter("self_dist", None)
        if self.graph == "nonlocal" and self.nl_blend:
            self.blend = nn.Parameter(torch.full((1,), float(init_blend)))
        else:
            self.register_parameter("blend", None)
        if self.graph == "nonlocal" and self.nl_filter:
            identity = torch.zeros(self.kappa.shape[0], nl_filter * nl_filter)
            identity[:, nl_filter * nl_filter // 2] = 1.0
            self.graph_filter = nn.Parameter(identity)
        else:
            self.register_parameter("graph_filter", None)
        if guided:
            self.guide_channels = guide_channels
            self.guide_kappa = nn.Parameter(torch.full((guide_channels,), float(init_guide_kappa)))
        else:
            self.register_parameter("guide_kappa", None)

    # -- learned quantities of iteration t, half-step `half` ---------------------------------
    def step(self, t: int, half: int = 0) -> torch.Tensor:
        """``eta_{t, half}``."""
        return self.log_step[t, half].exp()

    def alpha(self, t: int, half: int = 0) -> torch.Tensor | None:
        """``alpha_{t, half}`` (None for the Laplacian priors)."""
        return None if self.log_alpha is None else self.log_alpha[t, half].exp()

    def direction_weights(self, t: int, half: int = 0) -> torch.Tensor:
        """Grid priors: ``(O,)`` weights ``a_o`` in :func:`.grid.grid_offsets` order."""
        w = self.weight[t, half]
        n_dir = len(self.offsets)
        if self.shared_weight:
            return w.expand(n_dir)
        if self.symmetric:
            return torch.cat([w, w])          # offset i + O/2 is the mirror of offset i
        return w

    def build_graph(self, z: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Non-local graph ``(nbr, a)`` on the current estimate ``z`` (rebuild number
        ``t // nl_update_every``)."""
        g = t // self.nl_update_every if self.several_kappa else 0
        return nonlocal_graph(self.filtered(z, g), self.kappa[g], self.nl_k, self.nl_window,
                              self.nl_patch, "same", distance=self.nl_distance,
                              self_distance=None if self.self_dist is None else self.self_dist[0])

    def filtered(self, z: torch.Tensor, g: int = 0) -> torch.Tensor:
        """The estimate ``z`` ``(B, C, H, W)`` seen by graph build ``g``: each channel filtered
        by ``graph_filter[g]`` (replicate padding, same size); ``z`` itself without
        ``nl_filter``."""
        if self.graph_filter is None:
            return z
        f, r = self.nl_filter, self.nl_filter // 2
        b, c, h, w = z.shape
        zp = F.pad(z.reshape(b * c, 1, h, w), (r, r, r, r), mode="replicate")
        out = F.conv2d(zp, self.graph_filter[g].view(1, 1, f, f).to(z.dtype))
        return out.view(b, c, h, w)

    def edge_factors(self, guide: torch.Tensor | None) -> tuple[torch.Tensor, ...] | None:
        """Edge-aware factors of the guide (None when not ``guided``)."""
        if not self.guided:
            return None
        return guide_edge_weights(guide, self.guide_kappa, self.offsets)

    def prior_grad(self, z: torch.Tensor, t: int, half: int = 0, edge=None, graph=None,
                   out: torch.Tensor | None = None) -> torch.Tensor:
        """Players' partial gradients of the prior at iteration ``t`` (added to ``out`` in
        place when given)."""
        if self.graph == "grid":
            return grid_game_grad(z, self.direction_weights(t, half), self.offsets,
                                  self.penalty, self.alpha(t, half), edge, out=out)
        nbr, a = graph
        dense = self.nl_k == self.nl_window ** 2 - 1      # every offset, in the window's order
        g = nonlocal_game_grad(z, nbr, a, self.penalty, self.alpha(t, half), self.symmetric,
                               strength=self.weight[t, half, 0],
                               window=self.nl_window if dense else None)
        return g if out is None else out.add_(g)

    def potential(self, z: torch.Tensor, x: torch.Tensor, t: int = 0, half: int = 0,
                  weight: torch.Tensor | None = None, guide: torch.Tensor | None = None,
                  graph=None) -> torch.Tensor:
        """``V_t(z) = 1/2 sum_j w_j (z_j - x_j)^2 + 1/2 sum_j psi_j(z)`` per batch element.

        For a symmetric game ``grad V_t`` is the field ``H_t`` (a potential game, Appendix A.2),
        so small gradient steps decrease it. Denoising data term only.
        """
        r = (z - x).square()
        data = 0.5 * (r if weight is None else weight * r).flatten(1).sum(1)
        if self.graph == "grid":
            return data + grid_potential(z, self.direction_weights(t, half), self.offsets,
                                         self.penalty, self.alpha(t, half),
                                         self.edge_factors(guide))
        nbr, a = graph
        return data + nonlocal_potential(z, nbr, self.weight[t, half, 0] * a, self.penalty,
                                         self.alpha(t, half))

    def _check(self, x, weight, guide, operator, init) -> None:
        if x.dim() != 4:
            raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
        z_shape = x.shape if init is None else init.shape
        if init is not None and init.dim() != 4:
            raise ValueError(f"init must be (B, C, H, W), got shape {tuple(init.shape)}")
        if operator is None and x.shape[1] != self.channels:
            raise ValueError(f"x has {x.shape[1]} channels, the game was built for "
                             f"channels={self.channels}")
        if operator is None and init is not None and init.shape != x.shape:
            raise ValueError(f"init shape {tuple(init.shape)} differs from x {tuple(x.shape)}")
        if weight is not None:
            if operator is not None:
                raise ValueError("a per-pixel data weight cannot be combined with an operator")
            b, c, h, w = x.shape
            if weight.dim() != 4 or weight.shape[0] not in (1, b) \
                    or weight.shape[1] not in (1, c) or weight.shape[-2:] != x.shape[-2:]:
                raise ValueError(f"weight must be (B, 1 or C, H, W) = ({b}, 1|{c}, {h}, {w}) "
                                 f"(B may be 1), got {tuple(weight.shape)}")
        if self.guided:
            if guide is None:
                raise ValueError("this game is guided=True: pass guide=(B, G, H, W)")
            b, _, h, w = z_shape
            if guide.dim() != 4 or guide.shape != (b, self.guide_channels, h, w):
                raise ValueError(f"guide must be ({b}, {self.guide_channels}, {h}, {w}), got "
                                 f"{tuple(guide.shape)}")
        elif guide is not None:
            raise ValueError("guide given but the game was built with guided=False")

    def forward(
        self,
        x: torch.Tensor,
        weight: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        operator=None,
        init: torch.Tensor | None = None,
        return_all: bool = False,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Run ``K`` unrolled iterations.

        Objective (player ``j``): ``h_j(z_j) + psi_j(Z)`` with ``h = w/2 (z - x)^2`` or
        ``1/2 ||A z - x||^2``; field ``H_t(z) = grad h(z) + prior_grad(z, t)``.

        Update (``eta = exp(log_step)``, graph rebuilt every ``nl_update_every`` iterations, and
        blended with the previous one with ``nl_blend``):

        * ``gd``:        ``z_{t+1} = z_t - eta_t H_t(z_t)``                        (eq. 7)
        * ``extragrad``: ``z_{t+1/2} = z_t - eta_{t,0} H_{t,0}(z_t)``,
          ``z_{t+1} = z_t - eta_{t,1} H_{t,1}(z_{t+1/2})``                          (eq. 8)

        Args:
            x: ``(B, C, H, W)`` observation, or a measurement when ``operator`` is given.
            weight: optional per-pixel data weight ``w >= 0``, ``(B, 1|C, H, W)``.
            guide: ``(B, G, H, W)`` guide image (``guided=True`` only).
            operator: object with ``.forward(z)`` / ``.adjoint(y)``; the data gradient is then
                ``A^T (A z - x)`` and ``init`` defaults to ``A^T x``.
            init: ``(B, C, H, W)`` initial estimate (default ``x``).
            return_all: return ``[z_0, ..., z_K]``.

        Returns:
            ``z_K`` ``(B, C, H, W)``, or the list of iterates.
        """
        self._check(x, weight, guide, operator, init)
        if init is not None:
            z = init
        elif operator is not None:
            z = operator.adjoint(x)
            z = z.real if torch.is_complex(z) else z
        else:
            z = x
        if operator is not None and z.shape[1] != self.channels:
            raise ValueError(f"the estimate has {z.shape[1]} channels, the game was built for "
                             f"channels={self.channels}")
        edge = self.edge_factors(guide)

        def H(z: torch.Tensor, t: int, half: int, graph) -> torch.Tensor:
            """Data gradient + players' prior gradients (prior added in place to the fresh
            pixel data-gradient tensor)."""
            if operator is None:
                return self.prior_grad(z, t, half, edge, graph, out=pixel_data_grad(z, x, weight))
            return operator_data_grad(z, x, operator) + self.prior_grad(z, t, half, edge, graph)

        def iteration(z: torch.Tensor, t: int, graph) -> torch.Tensor:
            # z - eta * H(z), fused as addcmul(z, H, -eta)
            if self.method == "gd":
                return torch.addcmul(z, H(z, t, 0, graph), -self.step(t))
            z_half = torch.addcmul(z, H(z, t, 0, graph), -self.step(t, 0))      # extrapolation
            return torch.addcmul(z, H(z_half, t, 1, graph), -self.step(t, 1))   # update

        iterates = [z]
        graph = None
        for t in range(self.iters):
            if self.graph == "nonlocal" and t % self.nl_update_every == 0:
                new = self.build_graph(z, t)
                graph = new if graph is None or self.blend is None else \
                    blend_graphs(graph, new, torch.sigmoid(self.blend[0]))
            z = maybe_checkpoint(iteration, z, t, graph, enabled=self.checkpoint)
            iterates.append(z)
        return iterates if return_all else z

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        s = (f"prior={self.prior!r}, method={self.method!r}, iters={self.iters}, "
             f"symmetric={self.symmetric}")
        if self.graph == "grid":
            s += f", connectivity={self.connectivity}, guided={self.guided}"
        else:
            s += (f", nl_k={self.nl_k}, nl_window={self.nl_window}, nl_patch={self.nl_patch}, "
                  f"nl_update_every={self.nl_update_every}, several_kappa={self.several_kappa}, "
                  f"nl_distance={self.nl_distance!r}, nl_self={self.nl_self}, "
                  f"nl_blend={self.nl_blend}, nl_filter={self.nl_filter}")
        return s + f", params={n}"
