"""Initialization of the pixel games: a tuned classical solve before any training.

An untrained :class:`stereo_tv.core.PixelGame` with constant solver quantities is a classical
smoothed TV / Laplacian / NLTV solve with ``K`` (extra-)gradient iterations:

    ``min_z 1/2 ||z - x||^2 + sum_j sum_o a_o Phi_alpha(z_j - z_{j+o})``   (grid, potential form)

Its quantities are few scalars: the neighbour weight ``a`` (axial offsets; diagonal ones get
``a * diag``), the smoothing ``alpha_t`` (a geometric continuation from ``alpha`` to
``alpha_end``), the step ``eta_t = step_scale / L_t`` with ``L_t = 1 + 2 alpha_t sum_o a_o`` the
Lipschitz bound of the field (``1 + 4 sum_o a_o`` for the Laplacian) and, for non-local priors,
the patch-distance weight ``kappa``. :func:`tune_init` picks them by a coordinate search in log
scale maximizing the mean PSNR on a few training images with the seeded noise of the protocol,
so that training starts from a well-tuned classical solver rather than from arbitrary values.

:func:`rescale_to_sigma` starts a model from weights trained at another noise level: the
regularization weights scale with the noise level ``r = sigma / sigma_src``, the smoothing
``alpha`` (an inverse intensity) and ``kappa`` by ``1 / r``; ``alpha * a`` and thus the step-size
bound are unchanged. A scalar search around ``r`` then adjusts the factor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from stereo_tv.denoising._noise import add_noise

__all__ = ["default_init", "set_init", "tune_init", "rescale_to_sigma", "jitter_weights",
           "convert_nl_distance"]


def default_init(prior: str, sigma: float) -> dict[str, float]:
    """Starting point of the search: scalar quantities for ``prior`` at noise ``sigma``.

    The values are those found by :func:`tune_init` at ``sigma = 25`` on Train400 images
    (TV: full images; NLTV: 64x64 crops), scaled with ``s = sigma / 255``: weights as ``s``,
    ``alpha`` and ``kappa`` as ``1 / s``.

    >>> default_init("tv", 25.5)["weight"]
    0.1
    """
    s = sigma / 255.0
    if prior in ("tv", "laplacian"):
        q = {"weight": round(1.0 * s, 6), "diag": 0.5, "step_scale": 0.9}
        if prior == "tv":
            q.update(alpha=round(2.0 / s, 6), alpha_end=round(7.0 / s, 6))
    else:
        q = {"weight": round(4.0 * s, 6), "step_scale": 0.9, "kappa": round(0.113 / s, 6)}
        if prior == "nltv":
            q.update(alpha=round(0.7 / s, 6), alpha_end=round(14.0 / s, 6))
    return q


def _schedules(game: torch.nn.Module, q: dict[str, float]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-iteration ``alpha_t`` (geometric from ``alpha`` to ``alpha_end``: continuation on the
    smoothing), weight ``w_t`` (geometric from ``weight`` to ``weight_end``) and
    ``eta_t = step_scale / L_t``, ``L_t`` the Lipschitz bound of the field."""
    k = game.iters
    frac = torch.linspace(0.0, 1.0, k, dtype=torch.float64) if k > 1 else torch.zeros(1)
    a0 = q.get("alpha", 1.0)
    a1 = q.get("alpha_end", a0)
    alpha = a0 * (a1 / a0) ** frac
    w0 = q["weight"]
    weight = w0 * (q.get("weight_end", w0) / w0) ** frac
    if game.graph == "grid":
        total = weight * sum(1.0 if 0 in o else q.get("diag", 1.0) for o in game.offsets)
    else:
        total = weight
    curv = 2.0 * alpha * total if game.penalty == "l1" else 4.0 * total
    return alpha, weight, q["step_scale"] / (1.0 + curv)


@torch.no_grad()
def set_init(game: torch.nn.Module, q: dict[str, float]) -> None:
    """Write the quantities ``q`` into every iteration of ``game`` (a PixelGame).

    ``q`` holds ``weight`` / ``weight_end`` (and ``diag`` for grid priors), ``alpha`` /
    ``alpha_end`` (smoothed priors), ``step_scale`` (``eta_t = step_scale / L_t``) and ``kappa``
    (non-local priors); a missing ``*_end`` means a constant schedule.
    """
    alpha, weight, eta = _schedules(game, q)
    game.log_step.copy_(eta.log()[:, None].expand_as(game.log_step))
    if game.log_alpha is not None:
        game.log_alpha.copy_(alpha.log()[:, None].expand_as(game.log_alpha))
    if game.graph == "grid":
        diag = [1.0 if 0 in o else q.get("diag", 1.0) for o in game.offsets]
        w = torch.tensor(diag, dtype=torch.float64)
        if game.shared_weight:
            w = w.mean(0, keepdim=True)
        elif game.symmetric:
            w = w[: len(game.offsets) // 2]
        w = weight[:, None, None] * w  # (K, 1, n_w)
    else:
        w = weight[:, None, None]
    game.weight.copy_(w.expand_as(game.weight))
    if game.kappa is not None and "kappa" in q:
        game.kappa.fill_(q["kappa"])


def _noisy_pairs(images: Sequence[np.ndarray], sigma: float, crop: int | None):
    pairs = []
    for i, img in enumerate(images):
        if crop:
            h, w = img.shape
            a, b = (h - min(crop, h)) // 2, (w - min(crop, w)) // 2
            img = img[a:a + crop, b:b + crop]
        y = add_noise(img, sigma, f"tune-{i}")
        pairs.append((torch.from_numpy(y)[None, None], torch.from_numpy(img)[None, None]))
    return pairs


@torch.inference_mode()
def _score(game, pairs) -> float:
    vals = []
    for y, x in pairs:
        z = game(y.to(game.log_step)).clamp(0, 1)
        mse = float((z.double() - x.double()).square().mean())
        if not math.isfinite(mse):
            return -math.inf
        vals.append(-10.0 * math.log10(max(mse, 1e-12)))
    return float(np.mean(vals))


def tune_init(game: torch.nn.Module, images: Sequence[np.ndarray], sigma: float,
              rounds: int = 3, crop: int | None = None,
              start: dict[str, float] | None = None) -> dict[str, float]:
    """Tune the scalar initial quantities of ``game`` in place (see the module docstring).

    Args:
        game: an untrained PixelGame.
        images: clean training images, float (H, W) in [0, 1] (a few suffice).
        sigma: noise level (0-255 scale).
        rounds: coordinate-search rounds; the search factors shrink each round.
        crop: centre crop side for speed (non-local priors), None for full images.
        start: starting point (default :func:`default_init`).

    Returns:
        The chosen quantities and the PSNR they reach (``"psnr"``, ``"psnr_start"``).
    """
    pairs = _noisy_pairs(images, sigma, crop)
    q = dict(start or default_init(game.prior, sigma))
    keys = [k for k in ("weight", "weight_end", "alpha", "alpha_end", "step_scale", "kappa",
                        "diag") if k in q]
    if game.graph == "grid" and game.shared_weight:
        keys.remove("diag")
    set_init(game, q)
    best = first = _score(game, pairs)
    factor = 2.0
    for _ in range(rounds):
        for key in keys:
            for f in (factor, 1.0 / factor):
                improved = True
                while improved:
                    trial = dict(q)
                    trial[key] = q[key] * f
                    if key in ("diag", "step_scale"):
                        trial[key] = min(trial[key], 1.9 if key == "step_scale" else 1.5)
                    set_init(game, trial)
                    score = _score(game, pairs)
                    improved = score > best + 1e-4
                    if improved:
                        best, q = score, trial
        factor = math.sqrt(factor)
    set_init(game, q)
    return {**{k: float(v) for k, v in q.items()}, "psnr": best, "psnr_start": first,
            "tuned_on": f"{len(pairs)} training images" + (f", {crop}px crops" if crop else "")}


# rescale_to_sigma: prior strengths (pixel weights, patch thresholds) scale with sigma,
# Moreau alphas and the patch-distance kappa inversely.
_STRENGTHS = ("weight", "l1_weight", "group_weight", "tv_weight")
_LOG_ALPHAS = ("log_alpha", "log_group_alpha", "log_tv_alpha")
# the pixel games' optional graph parameters: self distance (nl_self, see self_dist_start),
# graph blend (nl_blend) and the filter before the distances (nl_filter, added at the identity);
# rescale_to_sigma adds them at their starts or drops them
_GRAPH_EXTRAS = ("self_dist", "blend", "graph_filter")
# patch-game priors that a source without them can start at strength 0 (rescale_to_sigma), and
# the optional graph parameters
_ADDABLE = ("tv_weight", "log_tv_alpha", "variance_weight", *_GRAPH_EXTRAS)
# a group game started from a weighted-l1 one (sc -> nlgroup): the l1 strengths, times
# GROUP_FROM_L1[0], become the group strengths; these start at the group game's defaults
# (kappa) or at GROUP_FROM_L1[1] (the Moreau alpha)
_GROUP_FROM_L1 = ("log_group_alpha", "kappa")
#: (strength factor, Moreau alpha) of an sc -> nlgroup start. The smoothed group gradient of a
#: player is ``lambda a_jj z / ||u||``, with ``a_jj`` its own weight among its 10 group members,
#: so the l1 strength needs a factor near 10; a large alpha keeps the smoothing close to the l1
#: prox. Picked on a 3 x 2 grid (factor 6 / 8 / 10, alpha 100 / 300) on two 96x96 Train400 crops
#: at sigma 25 (session 17): the sc file scored 29.07 dB there, this start 28.99. The crops
#: flattered it: on Set12 it scores 28.74 against 29.18, on four whole Train400 images (every
#: 100th) 28.34 against 28.77, since ``a_jj`` ranges from 1/10 (flat regions) to 1 (texture)
GROUP_FROM_L1 = (8.0, 100.0)
#: learned-step factor of a game with the Barzilai-Borwein step started from one without it
#: (``sc`` -> ``sc-bb``; the inverse the other way). The per-patch BB step is at least the ISTA
#: step that the source learned, often several times it, so the learned factor must shrink. On
#: 4 Train400 images at sigma 25 with centred patches (session 19; the sc file: 29.47 dB) the
#: start scored 29.28 / 29.45 / 29.41 / 29.17 dB at factor 0.3 / 0.4 / 0.5 / 0.6, and 26.0 at 1.
#: Without centring it breaks (12.7 dB at 1, 15.4 at 0.3): the slowly converging constant part of
#: the codes dominates their differences, so the BB step grows to the inverse of its small
#: curvature
BB_STEP_FROM_PLAIN = 0.4
#: where the own distance of a group game with a learned own weight (``nl_self``) started from
#: a weighted-l1 file begins: with group soft-thresholding (``group_prox``) the start is sparse
#: coding where the patch stands out and pools its group's codes where its neighbours are as
#: like it as the noise allows. Picked on 128x128 crops from the ``sc`` files (session 18; the
#: first graph's noise distance is 0.56 / 1.56 / 6.23 at sigma 15 / 25 / 50): on 6 Set12 crops
#: at sigma 25 sc scores 28.19 dB and the own distance -1 / -1.5 / -2 / -2.5 / -3 gives 28.19 /
#: 28.31 / 28.37 / 28.39 / 28.36; on 8 Train400 crops (every 50th) sc 31.88 / 29.33 / 26.51
#: at sigma 15 / 25 / 50, and -2.5 gives 32.00 / 29.51 / 26.68 (-2: 31.94 at 15; -4: 29.42 at
#: 25; -1 / -4 / -7: 26.53 / 26.60 / 26.52 at 50)
GROUP_SELF_START = -2.5
SELF_DIST_MARGIN = 1.5
#: where an ``nl_blend`` game started from a file without it puts the blend logit: the rebuilt
#: graph keeps sigmoid(3) = 95% of its weight, close to the source (which replaces the graph)
BLEND_START = 3.0


def self_dist_start(game: torch.nn.Module, sigma: float, distance: str | None = None) -> float:
    """Where an ``nl_self`` game started from a file without it puts the pixel in its softmax:
    :data:`SELF_DIST_MARGIN` beyond the first graph's noise distance, the expected distance
    between two noisy copies of one patch (``2 (sigma / 255)^2 sum_i kappa_i^2``, its square
    root for ``nl_distance="norm"``). A neighbour as like the pixel as the noise allows then
    outweighs it by ``exp(1.5) = 4.5``; a flat region's pixel keeps about 1% of its weight, so
    the game computes nearly the source's function, while the pixel on an edge, unlike its
    neighbours, keeps more and the distance gets a gradient. (A fixed distance does not work:
    the noise distance of the shipped files' first graphs ranges from 0.06 to 8.6.)
    ``distance`` is the form ``game.kappa`` is in (default: the game's own).
    """
    kappa0 = game.kappa.detach()[0].double()
    d = 2.0 * (sigma / 255.0) ** 2 * float(kappa0.square().sum())
    return (math.sqrt(d) if (distance or game.nl_distance) == "norm" else d) + SELF_DIST_MARGIN


@torch.no_grad()
def rescale_to_sigma(game: torch.nn.Module, src: torch.nn.Module, sigma_src: float,
                     sigma: float, images: Sequence[np.ndarray] | None = None,
                     crop: int | None = None) -> dict[str, float]:
    """Copy ``src`` (trained at ``sigma_src``) into ``game`` rescaled for ``sigma``.

    Prior strengths (a pixel game's weights, a patch game's l1 / group / tv weights) are
    multiplied by ``m``, every Moreau ``alpha`` and ``kappa`` divided by ``m``, starting from
    ``m = sigma / sigma_src``; with ``images``, ``m`` is then refined by a 1-D search. A
    one-kappa ``src`` can start a several-kappa ``game`` (``-kappas``): every graph rebuild gets
    its ``kappa``, so the two compute the same function until training separates them.
    Likewise a patch game can start one with more priors (``sc`` -> ``sc-var``, ``sc-tv``,
    ``sc-tv-var``; ``nlgroup`` -> ``nlgroup-var`` ...): the added terms start at strength 0
    (their Moreau ``alpha`` at the game's initial value), so the game starts as ``src``. A
    weighted-l1 game can start a non-local group one (``sc`` -> ``nlgroup*``): the l1
    strengths, times :data:`GROUP_FROM_L1` ``[0]``, become the group strengths, the group's
    ``alpha`` starts at ``GROUP_FROM_L1[1]`` and ``kappa`` at its initial value: the game
    starts close to, not at, ``src``. A group game with ``nl_self`` takes the strengths as they
    are and its own distance starts at :data:`GROUP_SELF_START` (with ``group_prox``, a very
    negative distance would compute ``src`` exactly). A
    non-local pixel game without ``nl_self`` can start one with it: the pixel itself enters
    its softmax at :func:`self_dist_start`, close to the source's function;
    the other way the self distance is dropped (the pixel leaves its softmax). One without
    ``nl_blend`` starts one with it at :data:`BLEND_START` (the rebuilt graph weighs 95%);
    the other way the blend is dropped (a rebuild replaces the graph). One without
    ``nl_filter`` starts one with it at the identity filter (the same function); the other way
    the filter is dropped. A game with the
    Barzilai-Borwein step started from one without it has its learned steps multiplied by
    :data:`BB_STEP_FROM_PLAIN` (divided the other way).
    Raises ``RuntimeError`` when the parameters do not fit (another model).
    """
    state = dict(src.state_dict())
    kappa, target = state.get("kappa"), getattr(game, "kappa", None)
    if (kappa is not None and target is not None and kappa.shape[0] == 1 < target.shape[0]
            and kappa.shape[1:] == target.shape[1:]):
        state["kappa"] = kappa.expand_as(target).clone()
        filt = state.get("graph_filter")
        if filt is not None and getattr(game, "graph_filter", None) is not None:
            state["graph_filter"] = filt.expand_as(game.graph_filter).clone()
    dropped, renamed = [], {}
    if ("l1_weight" in state and getattr(game, "group_weight", None) is not None
            and getattr(game, "l1_weight", None) is None):     # sc -> nlgroup
        # with its own weight learned the group starts near the patch alone: factor 1
        factor = 1.0 if getattr(game, "self_dist", None) is not None else GROUP_FROM_L1[0]
        state["group_weight"] = state.pop("l1_weight") * factor
        renamed["l1_weight"] = "group_weight"
    for name in _GRAPH_EXTRAS:              # nl_self / nl_blend / nl_filter turned off
        if name in state and getattr(game, name, None) is None:
            del state[name]
            dropped.append(name)
    added = [n for n, _ in game.named_parameters() if n not in state]
    addable = set(_ADDABLE) | (set(_GROUP_FROM_L1) if renamed else set())
    if added and not set(added) <= addable:
        raise RuntimeError(f"parameters missing from the source: {', '.join(added)}")
    loaded = game.load_state_dict(state, strict=not added)   # strict=False still checks shapes
    if loaded.unexpected_keys:
        raise RuntimeError("unexpected parameters in the source: "
                           f"{', '.join(loaded.unexpected_keys)}")

    params = dict(game.named_parameters())
    at_zero = [n for n in added                                 # terms added at strength 0
               if n not in _GRAPH_EXTRAS and n not in _GROUP_FROM_L1]
    for name in at_zero:
        if name in _STRENGTHS or name == "variance_weight":
            params[name].zero_()

    def apply(m: float) -> None:
        for name, value in state.items():
            if params.get(name) is None:
                continue
            if name in _STRENGTHS:
                params[name].copy_(value * m)
            elif name in _LOG_ALPHAS:
                params[name].copy_(value - math.log(m))
            elif name == "kappa":
                params[name].copy_(value / m)

    m0 = m = sigma / sigma_src
    apply(m)
    info = {"rescaled_from_sigma": float(sigma_src), "factor_start": m0}
    if "self_dist" in added and getattr(game, "group_weight", None) is not None:
        info["self_dist_start"] = GROUP_SELF_START
        params["self_dist"].fill_(info["self_dist_start"])
    elif "self_dist" in added:    # after the rescale: kappa / m at sigma is kappa at sigma_src
        # in the source's distance form, like kappa: convert_nl_distance maps both
        info["self_dist_start"] = self_dist_start(game, sigma, getattr(src, "nl_distance", None))
        params["self_dist"].fill_(info["self_dist_start"])
    bb_to, bb_from = getattr(game, "bb_step", False), getattr(src, "bb_step", False)
    if bb_to != bb_from and "log_step" in params:       # sc <-> sc-bb: the learned step factor
        f = BB_STEP_FROM_PLAIN if bb_to else 1.0 / BB_STEP_FROM_PLAIN
        params["log_step"].add_(math.log(f))
        info["bb_step_scale"] = f
    if "graph_filter" in added:          # the constructor's identity: the source's distances
        info["graph_filter_start"] = "identity"
    if "blend" in added:
        info["blend_start"] = BLEND_START
        params["blend"].fill_(BLEND_START)
    if at_zero:
        info["added_at_zero"] = at_zero
    if dropped:
        info["dropped"] = dropped
    if renamed:
        if "log_group_alpha" in params:                    # none with group_prox
            params["log_group_alpha"].fill_(math.log(GROUP_FROM_L1[1] / m))
        info["renamed"] = renamed
    if images:
        pairs = _noisy_pairs(images, sigma, crop)
        best = info["psnr_start"] = _score(game, pairs)
        for f in (1.25, 0.8, 1.1, 0.91, 1.04, 0.96):
            improved = True
            while improved:
                apply(m * f)
                score = _score(game, pairs)
                improved = score > best + 1e-4
                if improved:
                    best, m = score, m * f
        apply(m)
        info["psnr"] = best
    info["factor"] = m
    return info


def jitter_weights(game: torch.nn.Module, scale: float, seed: int = 0) -> int:
    """Break the mirror symmetry of an asymmetric grid game: ``a <- a * (1 + scale * N(0, 1))``.

    The tuned initialization and every classical solve have ``a_o = a_{-o}``. Training with
    flips and rot90 augmentation sees mirrored images equally often, so the gradient of the
    loss with respect to the antisymmetric part ``a_o - a_{-o}`` vanishes on average there: an
    asymmetric game started symmetric stays (nearly) symmetric. Independent multiplicative noise
    on every weight, iteration and half-step starts it off that subspace.

    Returns the number of jittered entries (0 for symmetric, shared-weight or non-grid games,
    which are left unchanged).
    """
    if scale <= 0 or getattr(game, "graph", None) != "grid" or game.symmetric \
            or game.shared_weight:
        return 0
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        noise = torch.randn(game.weight.shape, generator=gen, dtype=game.weight.dtype)
        game.weight.mul_(1.0 + scale * noise.to(game.weight.device))
    return game.weight.numel()


#: images of the training set that :func:`convert_nl_distance` measures distances on
_DISTANCE_SAMPLE = slice(None, None, 40)
_DISTANCE_IMAGES = 10


@torch.no_grad()
def convert_nl_distance(game: torch.nn.Module, distance_src: str,
                        images: Sequence[np.ndarray], names: Sequence[str],
                        sigma: float) -> dict[str, float]:
    """Convert the ``kappa`` that ``game`` holds (learned with ``distance_src``) to its own
    :attr:`~stereo_tv.core.PixelGame.nl_distance`, in place.

    With ``D = ||diag(kappa) (P_j z - P_k z)||``, a softmax of ``-D^2`` (``"squared"``) and one
    of ``-c D`` (``"norm"``) give the same relative weights to neighbours near a distance ``D0``
    when ``c = 2 D0``. ``D0`` is the median distance of the kept neighbours of the first graph
    on ``images[::40][:10]``, noised with the protocol's seeds (``names``) at ``sigma``.
    Squared to norm multiplies ``kappa`` by ``2 D0``, norm to squared by ``1 / sqrt(2 D0)``.
    A learned self distance ``s`` (``nl_self``) is a logit beside the neighbours' ones, so it
    moves with them: near ``D0``, ``D^2 = 2 D0 D - D0^2``, and the softmax ignores a shift of
    every logit, so squared to norm adds ``D0^2`` to ``s``, and norm to squared subtracts
    ``D0 / 2`` (``D0`` measured in the norm's units, ``2 D0^2`` of the squared's). The pixel
    then keeps its share against neighbours near ``D0``; the two maps round-trip exactly.

    Returns the factor, ``D0`` and a mapped ``self_dist``; an unchanged form returns ``{}``.
    """
    from stereo_tv.core.nonlocal_graph import knn_search, patch_distance

    if distance_src == game.nl_distance:
        return {}
    kappa = game.kappa[0]
    dist = []
    for img, name in list(zip(images, names))[_DISTANCE_SAMPLE][:_DISTANCE_IMAGES]:
        y = torch.from_numpy(add_noise(img, sigma, name))[None, None].to(kappa)
        nbr, valid = knn_search(y, kappa, game.nl_k, game.nl_window, game.nl_patch, "same")
        dist.append(patch_distance(y, kappa, nbr, game.nl_patch, "same")[valid].sqrt())
    d0 = float(torch.cat(dist).median())
    factor = 2.0 * d0 if game.nl_distance == "norm" else 1.0 / math.sqrt(2.0 * d0)
    game.kappa.mul_(factor)
    info = {"from": distance_src, "to": game.nl_distance, "median_distance": d0,
            "kappa_factor": factor}
    if getattr(game, "self_dist", None) is not None:
        game.self_dist.add_(d0 * d0 if game.nl_distance == "norm" else -d0 / 2.0)
        info["self_dist"] = float(game.self_dist)
    return info
