"""``PatchGame``: the sparse-coding family of patch-level games (paper Sec. 3.1-3.3, Table A5).

Every ``s x s`` patch position ``j`` of the image (stride 1, any image size) is a player with a
code ``z_j`` in ``R^p`` (``p`` atoms). Player ``j`` solves

    ``min_{z_j}  1/2 ||D z_j - P_j x||^2 + psi_j(Z)``

(or, with a linear operator ``A``, the shared data term ``1/2 ||A yhat(Z) - x||^2`` of CS-MRI,
eq. 9) and the output is the patch average of eq. (3),

    ``yhat = avg(W Z) = (sum_j P_j^T W z_j) / count``.

With ``center=True`` (denoising) each patch is coded around its mean, as in the authors' GroupSC
code: the data term is ``1/2 ||D z_j - (P_j x - m_j)||^2`` with ``m_j`` the mean of ``P_j x``
(per channel), and ``yhat = avg(W Z + M)``. The codes then carry no constant part, whose
coefficient the plain game reaches slowly (its atom has a small curvature) and which dominates
the code differences of the Barzilai-Borwein step.

``psi_j`` sums the chosen ``priors`` (:data:`PATCH_PRIORS`, see :mod:`.code_priors`):

* ``"l1"``: ``sum_l lambda_l |z_j[l]|``, handled by its prox (soft-thresholding): sparse coding
  (SC), an ISTA-like step;
* ``"group"``: non-local group penalty ``sum_l lambda_l ||(sqrt(a_jk) z_k[l])_k||`` on the
  ``k + 1`` most similar patches of the current estimate (Moreau-smoothed); ``symmetric=True``
  descends its potential (Appendix A.2);
* ``"tv"``: smoothed TV on the code maps (learned per-offset weights, :mod:`.priors`);
* ``"variance"``: ``mu ||W z_j - P_j yhat||^2``, the variance reduction penalty.

Untied parameters (Sec. 3.3): the data gradient is ``C^T (D z_j - P_j x)`` with ``C``, ``D`` and
the decoder ``W`` all learned ``(q, p)`` matrices (``q = channels * s^2``), initialised with the
same dictionary normalised by its largest singular value (:meth:`from_dictionary`), so that
``eta_0 = 1`` is the ISTA step. ``untied=False`` uses one matrix for all three.

Learned iteration-dependent quantities are ``(iters, halves)`` tensors (``halves = 2`` for
extra-gradient): ``log_step``, ``log_group_alpha``, ``log_tv_alpha``, ``tv_weight[..., O]`` and
``variance_weight``; the per-atom strengths ``l1_weight`` and ``group_weight`` are
``(iters, p)`` (one row per iteration, shared by its two extra-gradient half-steps); ``kappa`` is
``(n_kappa, q)``. ``bb_step=True`` multiplies the learned step by a per-patch Barzilai-Borwein
step (Sec. 3.3, :func:`.solvers.barzilai_borwein_step`), computed from detached codes and
dictionaries (a step rule, like the neighbour indices: no gradient flows through it).

Parameter count of the paper's SC model (9x9 patches, 256 atoms, K = 24, gd, untied):
``3 * 81 * 256 + 24 * 256 + 24 = 68376`` (the paper's "68k").

Example (an orthonormal dictionary with zero thresholds reproduces the image in one step):
    >>> s = 3
    >>> basis = torch.linalg.qr(torch.randn(s * s, s * s, dtype=torch.float64))[0]
    >>> game = PatchGame.from_dictionary(basis, iters=1, init_l1=0.0).double()
    >>> x = torch.rand(1, 1, 7, 5, dtype=torch.float64)
    >>> bool(torch.allclose(game(x), x))
    True
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .code_priors import (
    nl_group_grad,
    nl_group_shrink,
    variance_grad,
    variance_own_share,
    weighted_l1_prox,
)
from .data_terms import (
    apply_dictionary,
    apply_dictionary_adjoint,
    dictionary_data_grad,
    least_squares_codes,
    normalize_dictionary,
    operator_data_grad,
)
from .grid import grid_offsets
from .nonlocal_graph import nonlocal_graph
from .patches import extract_patches, patch_average, patch_average_adjoint, patch_coverage
from .priors import grid_game_grad
from .solvers import barzilai_borwein_step, maybe_checkpoint

__all__ = ["PatchGame", "PATCH_PRIORS"]

PATCH_PRIORS = ("l1", "group", "tv", "variance")
_SOLVERS = {"gd": 1, "extragrad": 2}
_CODE_INITS = ("zero", "lsq")


class PatchGame(nn.Module):
    """Unrolled patch game; ``forward`` returns the patch-averaged image ``yhat`` (eq. 3).

    Args:
        priors: non-empty subset of :data:`PATCH_PRIORS`, e.g. ``("l1",)`` (SC),
            ``("l1", "variance")``, ``("l1", "tv")``, ``("group", "variance")``.
        num_atoms: dictionary size ``p``.
        patch_size: odd or even patch side ``s``.
        channels: image channels ``C`` (``q = C s^2``).
        iters: unrolled iterations ``K``.
        method: ``"gd"`` (proximal gradient, eq. 7) or ``"extragrad"`` (eq. 8).
        symmetric: group: potential-game gradient; tv: tie ``a_o = a_{-o}``.
        bb_step: per-patch Barzilai-Borwein step times the learned step.
        untied: separate ``C``, ``D``, ``W`` (else one shared matrix).
        dictionary: optional ``(q, p)`` initial dictionary (array or tensor); normalised by its
            largest singular value. Default: random unit-norm atoms.
        tv_connectivity: 4 or 8, grid of the code-map TV.
        nl_k, nl_window: non-local groups (``k`` neighbours + the patch itself, odd window).
        nl_update_every: rebuild the groups every this many iterations (6 = the paper's 1/6);
            the first graph is built on ``x`` (or ``A^T x``), later ones on ``yhat``.
        several_kappa: a separate ``kappa`` per rebuild.
        nl_self: the patch's own weight in its group is learned: it enters the softmax at a
            learned distance ``self_dist`` (one scalar, initially ``init_self_dist``; 0 is the
            fixed own distance without the flag), ``a_jj = exp(-s) / (exp(-s) + sum_k
            exp(-d_jk))``. A very negative ``s`` makes each group the patch alone, so the group
            penalty becomes a smoothed weighted l1 norm (the game starts as sparse coding).
        group_prox: apply the group penalty by group soft-thresholding after each gradient
            step (:func:`.code_priors.nl_group_shrink`, the GroupSC code's update) instead of
            its Moreau-Yosida smoothed gradient (the paper's text); no ``alpha`` then.
        init_step: initial step (default ``1 / L`` for gd, ``0.5 / L`` for extra-gradient, with
            ``L`` = 1 + the smooth priors' bounds; proximal extra-gradient stalls at
            ``eta = 1 / L`` exactly).
        init_alpha: initial Moreau-Yosida ``alpha`` (group and tv).
        init_l1, init_group, init_tv, init_variance: initial prior strengths.
        init_kappa: initial ``kappa`` entries.
        init_self_dist: initial ``self_dist`` (``nl_self``).
        code_init: the codes' start ``Z_0``: ``"zero"``, or ``"lsq"``, the minimum-norm codes
            ``D^T (D D^T)^{-1} P_j y_0`` of the start image ``y_0`` (``x``, or ``A^T x`` with an
            operator), so that ``avg(D Z_0) = y_0``: the iterations start from the input (or
            the zero-filled image) instead of from 0 (needs ``p >= q``).
        center: code each patch with its mean removed and add the mean back in the output
            (denoising only: an error with an operator).
        checkpoint: activation checkpointing per iteration.
    """

    def __init__(
        self,
        priors: tuple[str, ...] | list[str] = ("l1",),
        num_atoms: int = 256,
        patch_size: int = 9,
        channels: int = 1,
        iters: int = 24,
        method: str = "gd",
        symmetric: bool = False,
        bb_step: bool = False,
        untied: bool = True,
        dictionary=None,
        tv_connectivity: int = 4,
        nl_k: int = 9,
        nl_window: int = 15,
        nl_update_every: int = 6,
        several_kappa: bool = False,
        nl_self: bool = False,
        init_self_dist: float = 0.0,
        group_prox: bool = False,
        init_step: float | None = None,
        init_alpha: float = 10.0,
        init_l1: float = 0.05,
        init_group: float = 0.05,
        init_tv: float = 0.01,
        init_variance: float = 0.1,
        init_kappa: float = 1.0,
        code_init: str = "zero",
        center: bool = False,
        checkpoint: bool = False,
    ):
        super().__init__()
        priors = tuple(priors)
        if code_init not in _CODE_INITS:
            raise ValueError(f"code_init must be one of {_CODE_INITS}, got {code_init!r}")
        bad = [p for p in priors if p not in PATCH_PRIORS]
        if bad or not priors or len(set(priors)) != len(priors):
            raise ValueError(f"priors must be a non-empty subset of {PATCH_PRIORS} without "
                             f"repeats, got {priors!r}")
        if method not in _SOLVERS:
            raise ValueError(f"method must be one of {sorted(_SOLVERS)}, got {method!r}")
        if iters < 1 or num_atoms < 1 or patch_size < 1 or channels < 1:
            raise ValueError("iters, num_atoms, patch_size and channels must be >= 1, got "
                             f"{iters}, {num_atoms}, {patch_size}, {channels}")
        if init_alpha <= 0 or (init_step is not None and init_step <= 0):
            raise ValueError(f"init_step and init_alpha must be > 0, got {init_step}, {init_alpha}")
        self.priors, self.method, self.iters = priors, method, iters
        self.num_atoms, self.patch_size, self.channels = num_atoms, patch_size, channels
        self.symmetric, self.bb_step, self.untied = symmetric, bb_step, untied
        self.nl_k, self.nl_window, self.nl_update_every = nl_k, nl_window, nl_update_every
        self.several_kappa, self.checkpoint = several_kappa, checkpoint
        if nl_self and "group" not in priors:
            raise ValueError(f"nl_self needs the group prior, got {priors!r}")
        self.nl_self = bool(nl_self)
        if group_prox and "group" not in priors:
            raise ValueError(f"group_prox needs the group prior, got {priors!r}")
        if group_prox and "l1" in priors:
            raise ValueError("group_prox and the l1 prior are exclusive (one prox per step)")
        self.group_prox = bool(group_prox)
        self.code_init = code_init
        self.center = bool(center)
        q, p = channels * patch_size * patch_size, num_atoms
        if code_init == "lsq" and p < q:
            raise ValueError(f"code_init='lsq' needs num_atoms >= channels * patch_size^2 = {q}, "
                             f"got {p}")
        halves = _SOLVERS[method]

        if dictionary is None:
            atoms = torch.randn(q, p)
            dictionary = atoms / atoms.norm(dim=0, keepdim=True)
        D0 = torch.as_tensor(np.asarray(dictionary) if not torch.is_tensor(dictionary)
                             else dictionary).detach().to("cpu", torch.float64)
        if D0.shape != (q, p):
            raise ValueError(f"dictionary must be (q, p) = ({q}, {p}) for {channels} channel(s), "
                             f"{patch_size}x{patch_size} patches and {p} atoms; got "
                             f"{tuple(D0.shape)}")
        D0 = normalize_dictionary(D0).to(torch.get_default_dtype())   # parameters: default dtype
        self.D = nn.Parameter(D0.clone())
        if untied:
            self.C = nn.Parameter(D0.clone())
            self.W = nn.Parameter(D0.clone())
        else:
            self.register_parameter("C", None)
            self.register_parameter("W", None)

        lipschitz = 1.0                      # ||C^T D|| = 1 after normalisation
        if "l1" in priors:
            self.l1_weight = nn.Parameter(torch.full((iters, p), float(init_l1)))
        else:
            self.register_parameter("l1_weight", None)
        if "group" in priors:
            if nl_window % 2 != 1:
                raise ValueError(f"nl_window must be odd, got {nl_window}")
            n_kappa = math.ceil(iters / nl_update_every) if several_kappa else 1
            self.group_weight = nn.Parameter(torch.full((iters, p), float(init_group)))
            if group_prox:
                self.register_parameter("log_group_alpha", None)
            else:
                self.log_group_alpha = nn.Parameter(
                    torch.full((iters, halves), math.log(init_alpha)))
                lipschitz += 2.0 * init_alpha * abs(init_group)
            self.kappa = nn.Parameter(torch.full((n_kappa, q), float(init_kappa)))
        else:
            for name in ("group_weight", "log_group_alpha", "kappa"):
                self.register_parameter(name, None)
        if self.nl_self:
            self.self_dist = nn.Parameter(torch.full((1,), float(init_self_dist)))
        else:
            self.register_parameter("self_dist", None)
        self.offsets = grid_offsets(tv_connectivity)
        if "tv" in priors:
            n_dir = len(self.offsets)
            n_w = n_dir // 2 if symmetric else n_dir
            self.tv_weight = nn.Parameter(torch.full((iters, halves, n_w), float(init_tv)))
            self.log_tv_alpha = nn.Parameter(torch.full((iters, halves), math.log(init_alpha)))
            lipschitz += 2.0 * init_alpha * n_dir * abs(init_tv)
        else:
            self.register_parameter("tv_weight", None)
            self.register_parameter("log_tv_alpha", None)
        if "variance" in priors:
            self.variance_weight = nn.Parameter(torch.full((iters, halves), float(init_variance)))
            lipschitz += 2.0 * abs(init_variance)
        else:
            self.register_parameter("variance_weight", None)
        if init_step is None:      # 1 / L for gd (ISTA); extra-gradient needs eta < 1 / L
            init_step = (1.0 if method == "gd" else 0.5) / lipschitz
        self.log_step = nn.Parameter(torch.full((iters, halves), math.log(init_step)))

    @classmethod
    def from_dictionary(cls, dictionary, patch_size: int | None = None, channels: int = 1,
                        **kwargs) -> PatchGame:
        """Build a game whose ``C = D = W`` start from a ``(q, p)`` dictionary (numpy array or
        tensor, e.g. learned by scikit-learn; transpose its ``(p, q)`` ``components_``).

        ``patch_size`` defaults to ``sqrt(q / channels)``.
        """
        q, p = np.shape(dictionary)
        if patch_size is None:
            patch_size = math.isqrt(q // channels)
        return cls(num_atoms=p, patch_size=patch_size, channels=channels, dictionary=dictionary,
                   **kwargs)

    # -- learned quantities ------------------------------------------------------------------
    @property
    def encoder(self) -> torch.Tensor:
        """``C`` (``D`` when tied)."""
        return self.D if self.C is None else self.C

    @property
    def decoder(self) -> torch.Tensor:
        """``W`` (``D`` when tied)."""
        return self.D if self.W is None else self.W

    def step(self, t: int, half: int = 0) -> torch.Tensor:
        return self.log_step[t, half].exp()

    def tv_weights(self, t: int, half: int = 0) -> torch.Tensor:
        w = self.tv_weight[t, half]
        return torch.cat([w, w]) if self.symmetric else w

    # -- image <-> codes ---------------------------------------------------------------------
    def _padded_size(self, h: int, w: int) -> tuple[int, int]:
        return max(h, self.patch_size), max(w, self.patch_size)

    def decode(self, Z: torch.Tensor, size: tuple[int, int],
               means: torch.Tensor | None = None,
               coverage: torch.Tensor | None = None) -> torch.Tensor:
        """``yhat = avg(W Z)`` (``avg(W Z + M)`` with the patch ``means`` of :meth:`patch_means`)
        cropped to ``size`` ``(H, W)``: ``(B, C, H, W)``. ``coverage``: the padded canvas's
        precomputed :func:`.patches.patch_coverage`."""
        hp, wp = self._padded_size(*size)
        P = apply_dictionary(self.decoder, Z)
        y = patch_average(P if means is None else P + means, self.patch_size, (hp, wp), coverage)
        return y[..., :size[0], :size[1]]

    def patch_means(self, X: torch.Tensor) -> torch.Tensor:
        """Each patch's mean per channel, broadcast over its pixels: ``(B, q, Hc, Wc)``."""
        b, q, hc, wc = X.shape
        c = self.channels
        m = X.view(b, c, q // c, hc, wc).mean(2, keepdim=True)
        return m.expand(b, c, q // c, hc, wc).reshape(b, q, hc, wc)

    def build_graph(self, yhat: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Groups (itself + ``nl_k`` most similar patches) on the padded estimate ``yhat``."""
        g = t // self.nl_update_every if self.several_kappa else 0
        return nonlocal_graph(yhat, self.kappa[g], self.nl_k, self.nl_window, self.patch_size,
                              "valid", include_self=True, self_distance=self.self_dist)

    def _check(self, x: torch.Tensor, operator) -> None:
        if x.dim() != 4:
            raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
        if operator is None and x.shape[1] != self.channels:
            raise ValueError(f"x has {x.shape[1]} channels, the game was built for "
                             f"channels={self.channels}")

    def forward(self, x: torch.Tensor, operator=None, return_all: bool = False,
                return_codes: bool = False):
        """Run ``K`` unrolled iterations from ``Z_0`` (``code_init``) and decode.

        Objective (player ``j``): ``1/2 ||D z_j - P_j x||^2 + psi_j(Z)`` (or the shared
        ``1/2 ||A yhat(Z) - x||^2``), field ``H_t(Z) = C^T (D Z - P x) + smooth priors``, and
        ``prox`` the soft-thresholding of the ``"l1"`` prior (identity without it).

        Update (``eta = exp(log_step)``, times the per-patch BB step if ``bb_step``):

        * ``gd``:        ``Z_{t+1} = prox_{eta_t}(Z_t - eta_t H_t(Z_t))``         (eq. 7, ISTA)
        * ``extragrad``: ``Z_{t+1/2} = prox(Z_t - eta_{t,0} H_{t,0}(Z_t))``,
          ``Z_{t+1} = prox(Z_t - eta_{t,1} H_{t,1}(Z_{t+1/2}))``                  (eq. 8)

        Args:
            x: ``(B, C, H, W)`` noisy image, or the measurement of ``operator``. Images smaller
                than a patch are replicate-padded (denoising) and the output is cropped.
            operator: object with ``.forward(z)`` / ``.adjoint(y)`` on ``(B, C, H, W)`` images.
            return_all: return ``[yhat_0, ..., yhat_K]`` (``yhat_0 = avg(W Z_0)``; for zero
                codes 0, or the patch means' average with ``center``).
            return_codes: also return the final codes ``Z_K`` ``(B, p, Hc, Wc)``.

        Returns:
            ``yhat`` ``(B, C, H, W)`` (or the list), and ``Z_K`` with ``return_codes``.
        """
        self._check(x, operator)
        if self.center and operator is not None:
            raise ValueError("center=True codes the patches of a noisy image; it takes no "
                             "operator")
        s = self.patch_size
        if operator is None:
            y0 = x
        else:
            y0 = operator.adjoint(x)
            y0 = y0.real if torch.is_complex(y0) else y0
            if y0.shape[1] != self.channels:
                raise ValueError(f"A^T x has {y0.shape[1]} channels, the game was built for "
                                 f"channels={self.channels}")
        b, _, h, w = y0.shape
        hp, wp = self._padded_size(h, w)
        y0p = F.pad(y0, (0, wp - w, 0, hp - h), mode="replicate") if (hp, wp) != (h, w) else y0
        cov = patch_coverage((hp, wp), s, y0)
        C, D, W = self.encoder, self.D, self.decoder
        X = extract_patches(y0p, s) if operator is None else None
        M = self.patch_means(X) if self.center else None         # X - M: the centred patches
        if M is not None:
            X = X - M
        # Without autograd the steps and the prox overwrite fresh tensors: on a CPU, every new
        # code-sized tensor costs page faults that took as long as the arithmetic.
        inplace = not torch.is_grad_enabled()
        scratch: dict[str, torch.Tensor] = {}    # the prox's clamp buffer (inference)
        own = (variance_own_share(cov, s, self.channels)
               if self.variance_weight is not None else None)

        def data_grad(Z: torch.Tensor) -> torch.Tensor:
            if operator is None:
                return dictionary_data_grad(Z, X, D, C)            # C^T (D z_j - P_j x)
            yhat = patch_average(apply_dictionary(D, Z), s, (hp, wp), cov)[..., :h, :w]
            r = operator_data_grad(yhat, x, operator)               # A^T (A yhat - x)
            r = F.pad(r, (0, wp - w, 0, hp - h))                    # adjoint of the crop
            return apply_dictionary_adjoint(C, patch_average_adjoint(r, s, cov))

        def H(Z: torch.Tensor, t: int, half: int, graph) -> torch.Tensor:
            g = data_grad(Z)
            if graph is not None and not self.group_prox:
                nbr, a = graph
                g = g + nl_group_grad(Z, nbr, a, self.group_weight[t],
                                      self.log_group_alpha[t, half].exp(), self.symmetric)
            if self.tv_weight is not None:
                g = grid_game_grad(Z, self.tv_weights(t, half), self.offsets, "l1",
                                   self.log_tv_alpha[t, half].exp(), out=g)
            if self.variance_weight is not None:
                g = variance_grad(Z, W, s, (hp, wp), cov, own=own,
                                  scale=self.variance_weight[t, half], out=g, offset=M)
            return g

        def prox(V: torch.Tensor, eta: torch.Tensor, t: int, graph) -> torch.Tensor:
            if self.group_prox:
                nbr, a = graph
                return nl_group_shrink(V, nbr, a, self.group_weight[t].clamp_min(0.0), eta,
                                       inplace)
            if self.l1_weight is None:
                return V
            if inplace and "clamp" not in scratch:   # V's shape and dtype are the same each step
                scratch["clamp"] = torch.empty_like(V)
            return weighted_l1_prox(V, self.l1_weight[t].clamp_min(0.0), eta,
                                    scratch.get("clamp"))

        def descend(Z: torch.Tensor, eta: torch.Tensor, t: int, half: int, at: torch.Tensor,
                    graph) -> torch.Tensor:
            """``prox(Z - eta H_t(at))``."""
            g = H(at, t, half, graph)
            return prox(g.mul_(-eta).add_(Z) if inplace else Z - eta * g, eta, t, graph)

        def iteration(Z: torch.Tensor, t: int, graph, bb) -> torch.Tensor:
            if self.method == "gd":
                return descend(Z, self.step(t) * bb, t, 0, Z, graph)
            eta0, eta1 = self.step(t, 0) * bb, self.step(t, 1) * bb
            Z_half = descend(Z, eta0, t, 0, Z, graph)                        # extrapolation
            return descend(Z, eta1, t, 1, Z_half, graph)                     # update

        if self.code_init == "lsq":      # avg(D Z_0) = y0 (D full row rank)
            Z = least_squares_codes(D, extract_patches(y0p, s) if X is None else X)
        else:
            Z = y0.new_zeros(b, self.num_atoms, hp - s + 1, wp - s + 1)
        Z_prev = None
        graph = None
        codes = [Z]                      # every iterate only for return_all (else the last)
        for t in range(self.iters):
            if self.group_weight is not None and t % self.nl_update_every == 0:
                yhat = y0p if t == 0 else self.decode(Z, (hp, wp), M, cov)
                graph = self.build_graph(yhat, t)
            bb = 1.0
            if self.bb_step and Z_prev is not None:
                bb = barzilai_borwein_step((Z - Z_prev).detach(), D.detach(), C.detach())
            Z_prev = Z if self.bb_step else None
            Z = maybe_checkpoint(iteration, Z, t, graph, bb, enabled=self.checkpoint)
            if return_all:
                codes.append(Z)
        out = ([self.decode(z, (h, w), M, cov) for z in codes] if return_all
               else self.decode(Z, (h, w), M, cov))
        return (out, Z) if return_codes else out

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (f"priors={self.priors}, method={self.method!r}, iters={self.iters}, "
                f"num_atoms={self.num_atoms}, patch_size={self.patch_size}, "
                f"channels={self.channels}, symmetric={self.symmetric}, bb_step={self.bb_step}, "
                f"untied={self.untied}, code_init={self.code_init!r}, nl_self={self.nl_self}, "
                f"center={self.center}, "
                f"params={n}")
