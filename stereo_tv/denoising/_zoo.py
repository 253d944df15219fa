"""Model zoo: the paper's denoisers by name, ``build_model(name, sigma, **overrides)``.

Names follow the paper's tables (Tables 1, 3, A1, A4, A5):

=====================  ==========================================================  ==========
name                   model                                                        paper row
=====================  ==========================================================  ==========
tv-sym / tv-sym-eg     TV, symmetric weights (potential game), gradient / extra-g.  TV symmetric
tv-asym / tv-asym-eg   TV, asymmetric weights (non-cooperative game)               TV assymetric
lap-*                  the same four with the Laplacian prior                      Laplacian
nltv / nltv-eg         non-local TV, asymmetric, one kappa                         Non-local TV
nltv-kappas, ...       ``-kappas``: one kappa per similarity update (several kappa)
nllap / nllap-eg ...   non-local Laplacian
sc, sc-bb, sc-var,     patch models (9x9 patches, 256 atoms, untied C/D, 24 iters):  Table A5
sc-tv, sc-tv-var,      sparse coding, + Barzilai-Borwein, + variance, + TV, ...
nlgroup-sym, nlgroup,  non-local group (+ variance, + TV)
nlgroup-var, ...
tinycnn-326 / -1200    residual CNN baselines                                      Tiny CNN
tv-chambolle, bm3d     untrained classical baselines (scikit-image / bm3d)
=====================  ==========================================================  ==========

Pixel models use 24 iterations and 8-connectivity. Symmetric grid models share one weight for
all directions (3 quantities per iteration: the paper's 72 / 144 parameters); asymmetric ones
learn 8 (240 / 480). The non-local ones compare 9x9 patches (kappa has 81 entries: 225 / 306
parameters with extra-gradient, one fewer than Table A4's 226 / 307; see ``nl_self``), keep the
16 most similar pixels inside an 11x11 search window (the paper gives neither for the pixel
models; on 8 Train400 64x64 crops at sigma 25 the tuned initialization scored 28.68 dB with the
core defaults k=9 / window 15, 28.82 with k=9 / window 11 and 28.93 with k=16 / window 11, and
window 11 is 1.8x faster), and rebuild their graph every 12 iterations (App. B, Table A2:
correlation update frequency 1/12). Their softmax weights use the squared kappa-weighted patch
distance; ``nl_distance="norm"`` (``denoise.py train --nl-distance norm``, recorded in the
weight file) uses its square root, the paper's text, for the same parameters. ``nl_self=True``
(``--nl-self``) counts the pixel itself in its softmax, at a learned distance: one more
parameter, which gives the paper's 226 / 307 exactly. ``nl_blend=True`` (``--nl-blend``) blends
each rebuilt graph with the previous one at a learned weight, the similarity update of the
authors' GroupSC code, whose one parameter besides ``kappa`` is another reading of that count.
``nl_filter=N`` (``--nl-filter N``) learns an N x N filter applied to the estimate before each
graph build's patch distances, one per ``kappa`` row, starting at the identity: an extension, not
in the paper (the shipped sigma 15-50 files use it, 252 / 325 parameters).
The initial solver quantities depend on ``sigma``
(:func:`stereo_tv.denoising._init.default_init`); ``scripts/denoise.py train`` tunes them on
training images (:func:`stereo_tv.denoising._init.tune_init`) before training.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from stereo_tv.denoising._classical import ClassicalDenoiser
from stereo_tv.denoising._init import default_init, set_init
from stereo_tv.denoising._tinycnn import TinyCNN

__all__ = ["PIXEL_MODELS", "PATCH_MODELS", "OTHER_MODELS", "MODEL_NAMES", "build_model",
           "model_family"]

_EG = {"": "gd", "-eg": "extragrad"}

PIXEL_MODELS: dict[str, dict[str, Any]] = {}
for _method_suffix, _method in _EG.items():
    for _prior, _short in (("tv", "tv"), ("laplacian", "lap")):
        for _sym in ("sym", "asym"):
            PIXEL_MODELS[f"{_short}-{_sym}{_method_suffix}"] = dict(
                prior=_prior, method=_method, symmetric=_sym == "sym",
                shared_weight=_sym == "sym")
    for _prior, _short in (("nltv", "nltv"), ("nllaplacian", "nllap")):
        for _kappas in ("", "-kappas"):
            PIXEL_MODELS[f"{_short}{_method_suffix}{_kappas}"] = dict(
                prior=_prior, method=_method, symmetric=False, several_kappa=bool(_kappas),
                nl_patch=9, nl_window=11, nl_k=16)

# Patch models: keyword arguments of stereo_tv.core.PatchGame (9x9 patches, 256 atoms, untied
# C / D / W, K = 24 gradient steps, similarities updated every 6 iterations: Table A2).
_PATCH_COMMON = dict(num_atoms=256, patch_size=9, iters=24, method="gd", untied=True,
                     nl_update_every=6)
PATCH_MODELS: dict[str, dict[str, Any]] = {
    "sc": dict(priors=("l1",)),
    "sc-bb": dict(priors=("l1",), bb_step=True),
    "sc-var": dict(priors=("l1", "variance")),
    "sc-tv": dict(priors=("l1", "tv")),
    "sc-tv-var": dict(priors=("l1", "tv", "variance")),
    "nlgroup-sym": dict(priors=("group",), symmetric=True),
    "nlgroup": dict(priors=("group",)),
    "nlgroup-var": dict(priors=("group", "variance")),
    "nlgroup-tv": dict(priors=("group", "tv")),
    "nlgroup-var-tv": dict(priors=("group", "tv", "variance")),
}

OTHER_MODELS: dict[str, dict[str, Any]] = {
    "tinycnn-326": dict(widths=(5, 5), last_bias=True),
    "tinycnn-1200": dict(widths=(10, 11), last_bias=False),
    "tv-chambolle": dict(method="tv-chambolle"),
    "bm3d": dict(method="bm3d"),
}

MODEL_NAMES = tuple(PIXEL_MODELS) + tuple(PATCH_MODELS) + tuple(OTHER_MODELS)


def model_family(name: str) -> str:
    """``"pixel"``, ``"patch"``, ``"cnn"`` or ``"classical"``; raises for an unknown name."""
    if name in PIXEL_MODELS:
        return "pixel"
    if name in PATCH_MODELS:
        return "patch"
    if name.startswith("tinycnn-") and name in OTHER_MODELS:
        return "cnn"
    if name in OTHER_MODELS:
        return "classical"
    raise ValueError(f"unknown model '{name}'; valid names: {', '.join(MODEL_NAMES)}")


def build_model(name: str, sigma: float = 25.0, **overrides: Any) -> nn.Module:
    """Build the denoiser ``name`` for noise level ``sigma`` (0-255 scale), untrained.

    Args:
        name: one of :data:`MODEL_NAMES`.
        sigma: noise level; sets the initial solver quantities (pixel models), the dictionary
            scaling (patch models) or the classical method's parameter.
        overrides: keyword arguments passed on to the model's constructor (e.g. ``iters=12``;
            patch models take ``dictionary=`` a (81, 256) initial dictionary, see
            :func:`stereo_tv.denoise.initial_dictionary`; without it they start from a random
            one).

    Returns:
        An ``nn.Module`` mapping (B, 1, H, W) noisy images to (B, 1, H, W) estimates.
    """
    family = model_family(name)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 (0-255 scale), got {sigma}")
    if family == "classical":
        return ClassicalDenoiser(sigma=sigma, **{**OTHER_MODELS[name], **overrides})
    if family == "cnn":
        return TinyCNN(**{**OTHER_MODELS[name], **overrides})
    if family == "pixel":
        from stereo_tv.core import PixelGame
        kwargs = {"iters": 24, "connectivity": 8, "channels": 1, **PIXEL_MODELS[name],
                  **overrides}
        game = PixelGame(**kwargs)
        set_init(game, default_init(game.prior, sigma))
        return game
    from stereo_tv.core import PatchGame
    s = sigma / 255.0
    kwargs = {**_PATCH_COMMON, "init_l1": 0.5 * s, "init_group": 0.5 * s, "init_tv": 0.1 * s,
              **PATCH_MODELS[name], **overrides}
    return PatchGame(**kwargs)
