"""CS-MRI reconstruction models: CS-TV (pixel game) and CS-SC (patch sparse coding), paper Sec. 4.

Both solve, by ``K`` unrolled (extra-)gradient steps, a game whose data term goes through the
sampling operator ``A = P F`` (:class:`~stereo_tv.mri.MaskedFourier`), starting from the
zero-filled image ``z_0 = A^T x`` (CS-TV), or from codes that reproduce it (CS-SC, see below):

* ``cs-tv``: every pixel ``j`` minimises ``(1/2) ||A z - x||^2 + TV_j(z)`` with learned,
  asymmetric neighbour weights, per-iteration steps and Moreau smoothing
  (:class:`stereo_tv.core.PixelGame` with ``prior="tv"``, ``method="extragrad"``,
  8-connectivity: 480 parameters; ~140 in the paper).
* ``cs-sc``: every patch code ``z_j`` minimises ``(1/2) ||A yhat(Z) - x||^2 + lambda ||z_j||_1``
  with ``yhat = (1/q) sum_j R_j^T D z_j`` the patch average (:class:`stereo_tv.core.PatchGame`
  with the operator, untied ``C, D, W``), optionally with the variance-reduction term
  (``priors=["l1", "variance"]``). The codes start at the least-squares codes of the
  zero-filled image (``code_init="lsq"``: ``avg(D Z_0) = A^T x``); ``code_init="zero"`` (files
  and runs recorded before it existed) starts at ``Z_0 = 0``, whose first proximal-gradient
  step codes ``A^T x``.

:class:`CSReconstruction` wraps a game and the operator (whose mask is a buffer, so a saved
model carries the mask it was trained for): ``model(x)`` maps a complex k-space measurement
``(B, 1, H, W)`` to a real image ``(B, 1, H, W)``.

Scale (a preconditioning of the learned parameters, not a change of the model): the game is
run on ``s x`` and its result divided by ``s``. The data term is quadratic and the TV / l1
priors are 1-homogeneous, so this is exactly the game on ``x`` with prior weights ``a / s``
and Moreau smoothing ``alpha * s`` (CS-SC: l1 weights ``lambda / s``). For [0, 1] images good
TV weights are ~1e-3 and l1 weights ~1e-4, at or below the Adam step (lr 6e-4); with ``s = 100``
the stored weights are ~0.1 (TV) and ~1e-2 (l1) and ``alpha`` ~1, so one learning rate suits
every parameter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from stereo_tv.mri.operator import CanvasOperator, MaskedFourier

__all__ = ["CSReconstruction", "build_model", "complete_record", "MODELS", "CS_TV_DEFAULTS",
           "CS_SC_DEFAULTS", "RECORD_FALLBACKS"]

# Untrained CS-TV: a smoothed-TV extra-gradient method tuned by a grid search on 4 training
# images (20% and 50% masks): step 0.5, TV weight 1e-3 per offset, alpha 100 on [0, 1] images,
# i.e. weight 0.1 and alpha 1 at scale 100. Step condition: eta (1 + 2 alpha sum_o a_o) < 2
# (here 0.5 * 2.6); the data gradient A^T (A z - x) is 1-Lipschitz.
CS_TV_DEFAULTS: dict[str, Any] = {
    "iters": 24, "method": "extragrad", "symmetric": False, "connectivity": 8,
    "init_step": 0.5, "init_weight": 0.1, "init_alpha": 1.0, "scale": 100.0,
}
# Paper App. B, Table A2 (fMRI): patch 9, 256 atoms, K = 24; untied C, D, W (Sec. 3.3),
# proximal gradient (ISTA). The codes live on a canvas with a margin of patch - 1 pixels
# (CanvasOperator), where the data gradient's Lipschitz constant is ||avg D||^2 <= 1 / patch^2,
# so ISTA is stable for steps below 2 patch^2 (init_step None -> 1.8 patch^2). The l1 weight is
# 1e-4 on [0, 1] images, stored as 1e-2 at scale 100: stored as 1e-4 (scale 1), the first Adam
# steps (lr 6e-4) pushed most weights below zero, where the prox clamps them and their gradient
# is zero, so the sparsity prior died (73% of the weights after 10 steps, 92% after 22 GPU
# epochs). The codes start at the least-squares codes of the zero-filled image (code_init
# "lsq", session 9: avg(D Z_0) = A^T x, the paper's z_0 = A^T x). Untrained, DCT dictionary, 20%,
# 3 validation images (zero-filled 27.72 dB): zero codes and step patch^2 (before) 27.27 dB,
# under zero-filling after 24 steps; lsq codes 28.80 dB with step patch^2, 29.29 with 1.8 patch^2
# (zero codes with 1.8 patch^2: 29.34, so the step gives the gain; benchmarks/cs_sc_start.py).
CS_SC_DEFAULTS: dict[str, Any] = {
    "iters": 24, "patch_size": 9, "num_atoms": 256, "priors": ["l1"], "method": "gd",
    "untied": True, "init_step": None, "init_l1": 1e-2, "scale": 100.0, "code_init": "lsq",
}
# Options added after files were first written, with the value those older records were built
# with (a record without the key rebuilds the model it was trained as).
RECORD_FALLBACKS: dict[str, dict[str, Any]] = {"cs-sc": {"code_init": "zero"}}


class CSReconstruction(nn.Module):
    """A game that reconstructs an image from masked k-space, with its operator.

    Args:
        game: a core game called as ``game(x, operator=op, init=z0)``.
        mask: bool ``(H, W)`` sampling mask (unshifted layout).
        name: model name, for ``extra_repr`` and exported files.
        scale: the game runs on ``scale * x`` (module docstring).
        pad: the game works on a canvas with this margin (:class:`CanvasOperator`) and the
            result is cropped; 0 for pixel games.
    """

    def __init__(self, game: nn.Module, mask: torch.Tensor, name: str = "cs",
                 scale: float = 1.0, pad: int = 0):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.game = game
        self.operator = MaskedFourier(mask)
        self.name = name
        self.scale = float(scale)
        self.pad = int(pad)
        self.options: dict[str, Any] = {"scale": self.scale}

    def forward(self, x: torch.Tensor, operator: MaskedFourier | None = None) -> torch.Tensor:
        """Reconstruct from ``x``: complex ``(B, 1, H, W)`` -> real ``(B, 1, H, W)``.

        Args:
            x: measurement ``P F image (+ noise)`` on the full k-space grid.
            operator: use another sampling operator than the stored one (the game's
                parameters do not depend on the mask, e.g. a mask of another image size).
        """
        op = self.operator if operator is None else operator
        if x.dim() != 4 or not x.is_complex() or tuple(x.shape[-2:]) != op.shape:
            raise ValueError(f"x must be complex (B, C, {op.shape[0]}, {op.shape[1]}) k-space, "
                             f"got {'complex' if x.is_complex() else x.dtype} {tuple(x.shape)}")
        x = self.scale * x
        if self.name == "cs-sc":         # PatchGame starts from codes (code_init), no init image
            canvas = CanvasOperator(op, self.pad)
            return canvas.crop(self.game(x, operator=canvas)) / self.scale
        return self.game(x, operator=op, init=op.adjoint(x)) / self.scale

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return f"name={self.name!r}, scale={self.scale:g}, pad={self.pad}, params={n}"


def _cs_tv(mask: torch.Tensor, **kwargs: Any) -> CSReconstruction:
    from stereo_tv.core import PixelGame

    options = {**CS_TV_DEFAULTS, **kwargs}
    game_options = {k: v for k, v in options.items() if k != "scale"}
    model = CSReconstruction(PixelGame(prior="tv", **game_options), mask, name="cs-tv",
                             scale=options["scale"])
    model.options = options
    return model


def _cs_sc(mask: torch.Tensor, dictionary=None, **kwargs: Any) -> CSReconstruction:
    from stereo_tv.core import PatchGame

    options = {**CS_SC_DEFAULTS, **kwargs}
    options["priors"] = list(options["priors"])
    if options["init_step"] is None:
        options["init_step"] = 1.8 * options["patch_size"] ** 2
    game_options = {k: v for k, v in options.items() if k != "scale"}
    game = PatchGame(dictionary=dictionary, **game_options)
    model = CSReconstruction(game, mask, name="cs-sc", scale=options["scale"],
                             pad=options["patch_size"] - 1)
    model.options = options              # the dictionary lives in the state dict
    return model


MODELS = {"cs-tv": _cs_tv, "cs-sc": _cs_sc}


def complete_record(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The recorded options ``kwargs`` of a ``name`` file or run, completed by
    :data:`RECORD_FALLBACKS` for the options it predates (not by today's defaults).

    >>> complete_record("cs-sc", {"init_l1": 1e-2})["code_init"]
    'zero'
    """
    return {**RECORD_FALLBACKS.get(name, {}), **kwargs}


def build_model(name: str, mask: torch.Tensor, **kwargs: Any) -> CSReconstruction:
    """Build ``cs-tv`` or ``cs-sc`` for ``mask``; ``kwargs`` go to the core game.

    ``scale`` is taken by :class:`CSReconstruction`; everything else goes to the game
    (``cs-sc`` also takes ``dictionary``, a ``(patch^2, atoms)`` initial dictionary). The
    resolved options (defaults included) are kept in ``model.options`` and written into
    exported weight files, so a file does not depend on later changes of the defaults.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid ones).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; valid: {', '.join(MODELS)}")
    return MODELS[name](mask, **kwargs)
