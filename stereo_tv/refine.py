"""Trainable TV refinement of a disparity map, and a stereo model wrapped by it (paper Sec. 4,
"Dense Stereo Matching", Table 5).

:class:`TVRefine` solves, for a backbone's disparity ``d0``, the per-pixel game (Sec. 3.1)

    ``min_{u_j}  w_j / 2 (u_j - u0_j)^2 + sum_{k in N_j} a_{j-k} |u_j - u_k|_alpha``

on the normalised disparity ``u = d / s`` with :class:`stereo_tv.core.PixelGame` (prior
``"tv"``; ``|.|_alpha`` is the Moreau-Yosida smoothed l1 of Sec. 3.2), and returns ``s * u_K``.

* Solver: ``K`` unrolled gradient (eq. 7) or extra-gradient (eq. 8) steps with learned
  per-iteration steps ``eta_t``, smoothing ``alpha_t`` and neighbour weights ``a_o``
  (8-connectivity, asymmetric by default: a non-cooperative game). Step-size condition:
  ``eta_t <= 1 / (max_j w_j + 2 alpha_t sum_o |a_o|)``; see the ``PixelGame`` docstring.
* Scale: ``s`` is the mean ``|d0|`` of each image (``scale="mean"``, at least ``min_scale``
  pixels) or a fixed number of pixels (``scale=<float>``). With ``"mean"`` the head is
  equivariant to disparity scaling, ``TVRefine(c d) = c TVRefine(d)`` for ``c > 0``: halving the
  resolution halves every disparity, and the learned ``a``, ``alpha`` and ``w`` keep their
  meaning (a Huber threshold ``1 / alpha`` is a fraction of the scene's mean disparity). A fixed
  scale measures everything in pixels instead.
* ``guided=True``: edge-aware weights ``a_{j-k} exp(-||kappa (I_j - I_k)||_2)`` from the left
  image ``I`` with a learned per-channel ``kappa`` (PixelGame ``guided``).
* ``confidence=True``: data weight ``w_j = g (c_j + 1e-3)^p`` from the backbone's confidence
  ``c_j`` in ``[0, 1]``, with learned gain ``g = exp(log_conf_gain)`` and power
  ``p = exp(log_conf_power)``; unsure pixels (``w_j -> 0``) take their neighbours' disparity.
  Otherwise ``w_j = 1``.

At initialisation every ``a_o`` is ``init_weight = 1e-4``, so the untrained head is close to the
identity (``|out - in| <= 8 a s K eta`` at most, about 1 % of the mean disparity) and wrapping a
pretrained backbone does not change its output at step 0.

:class:`RefinedStereo` runs any backbone ``backbone(left, right) -> (B, [1,] H, W)`` (or a tuple
of them in training, optionally with a confidence) and refines its final disparity, guided by
the left image. Shipped heads live in ``stereo_tv/weights/stereo/`` (:func:`load_head`).

Example (a constant disparity is an equilibrium of the game, so it comes back unchanged):
    >>> head = TVRefine(iters=3)
    >>> d = torch.full((1, 1, 9, 7), 12.5)
    >>> bool(torch.allclose(head(d), d))
    True
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stereo_tv.cli import UserError, atomic_path, foreign_format, load_torch_file
from stereo_tv.core import SOLVERS, PixelGame

__all__ = ["TVRefine", "RefinedStereo", "disparity_scale", "confidence_weight",
           "HEAD_FORMAT", "SHIPPED_DIR", "shipped_heads", "shipped_head_for", "save_head",
           "read_head", "load_head"]

HEAD_FORMAT = "stereo_tv.refine/1"
SHIPPED_DIR = Path(__file__).resolve().parent / "weights" / "stereo"
_CONF_EPS = 1e-3


def _check_map(x: torch.Tensor, name: str, channels: int | None = 1) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or (channels and x.shape[1] != channels):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        c = channels if channels else "C"
        raise ValueError(f"{name} must be a (B, {c}, H, W) tensor, got {shape}")


def disparity_scale(disp: torch.Tensor, scale: str | float = "mean",
                    min_scale: float = 1.0) -> torch.Tensor:
    """Normalising scale ``s`` of each disparity map, ``(B, 1, 1, 1)``.

    Args:
        disp: ``(B, 1, H, W)`` disparity in pixels.
        scale: ``"mean"`` for ``max(mean_j |d_j|, min_scale)`` per image, or a positive number
            of pixels used for every image.
        min_scale: floor of the ``"mean"`` scale, in pixels (all-zero maps stay finite).

    >>> disparity_scale(torch.tensor([[[[2.0, -6.0]]]])).flatten().tolist()
    [4.0]
    """
    if scale == "mean":
        return disp.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(min_scale)
    return disp.new_full((disp.shape[0], 1, 1, 1), float(scale))


def confidence_weight(confidence: torch.Tensor, log_gain: torch.Tensor,
                      log_power: torch.Tensor) -> torch.Tensor:
    """Data weight ``w = exp(log_gain) (clamp(c, 0, 1) + 1e-3) ** exp(log_power)``.

    >>> z = torch.zeros(())
    >>> confidence_weight(torch.tensor([0.999]), z, z).tolist()
    [1.0]
    """
    c = confidence.clamp(0.0, 1.0) + _CONF_EPS
    return log_gain.exp() * c.pow(log_power.exp())


class TVRefine(nn.Module):
    """Trainable TV refinement head (see the module docstring for the game and the scale).

    Args:
        iters: unrolled iterations ``K`` (the paper uses 12 and 24).
        method: ``"extragrad"`` (eq. 8, "TV extra") or ``"gd"`` (eq. 7).
        connectivity: 4 or 8 neighbours.
        symmetric: tie ``a_o = a_{-o}`` (a potential game) instead of asymmetric weights.
        guided: edge-aware neighbour weights from the image passed to ``forward``.
        confidence: weight the data term by the confidence passed to ``forward``.
        scale: ``"mean"`` (per-image mean ``|d|``) or a fixed scale in pixels.
        min_scale: floor of the ``"mean"`` scale, in pixels.
        init_weight: initial neighbour weight ``a_o`` (small: close to the identity).
        init_step: initial step ``eta``.
        init_alpha: initial Moreau-Yosida ``alpha`` (Huber threshold ``1 / alpha`` of ``u``).
        init_guide_kappa: initial ``kappa`` of the guide (``guided``).

    ``forward(disp, image=None, confidence=None)``: ``disp`` ``(B, 1, H, W)`` in pixels,
    ``image`` ``(B, 3, H, W)`` (used when ``guided``), ``confidence`` ``(B, 1, H, W)`` in
    ``[0, 1]`` (used when ``confidence``) -> refined ``(B, 1, H, W)``, dtype and device of
    ``disp``.
    """

    def __init__(self, iters: int = 24, method: str = "extragrad", connectivity: int = 8,
                 symmetric: bool = False, guided: bool = False, confidence: bool = False,
                 scale: str | float = "mean", min_scale: float = 1.0,
                 init_weight: float = 1e-4, init_step: float = 0.5, init_alpha: float = 20.0,
                 init_guide_kappa: float = 1.0):
        super().__init__()
        if method not in SOLVERS:
            raise ValueError(f"method must be one of {sorted(SOLVERS)}, got {method!r}")
        if not (scale == "mean" or (isinstance(scale, (int, float)) and scale > 0)):
            raise ValueError(f"scale must be 'mean' or a positive number of pixels, got {scale!r}")
        if min_scale <= 0:
            raise ValueError(f"min_scale must be > 0, got {min_scale}")
        self.scale = scale if scale == "mean" else float(scale)
        self.min_scale = float(min_scale)
        self.guided = guided
        self.confidence = confidence
        self.game = PixelGame("tv", iters=iters, method=method, symmetric=symmetric,
                              connectivity=connectivity, channels=1, guided=guided,
                              guide_channels=3, init_step=init_step, init_alpha=init_alpha,
                              init_weight=init_weight, init_guide_kappa=init_guide_kappa)
        if confidence:
            self.log_conf_gain = nn.Parameter(torch.zeros(()))
            self.log_conf_power = nn.Parameter(torch.zeros(()))
        else:
            self.register_parameter("log_conf_gain", None)
            self.register_parameter("log_conf_power", None)

    @property
    def iters(self) -> int:
        return self.game.iters

    @property
    def method(self) -> str:
        return self.game.method

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments that define the architecture (saved with a head)."""
        g = self.game
        return {"iters": g.iters, "method": g.method, "connectivity": g.connectivity,
                "symmetric": g.symmetric, "guided": self.guided, "confidence": self.confidence,
                "scale": self.scale, "min_scale": self.min_scale}

    def data_weight(self, confidence: torch.Tensor | None) -> torch.Tensor | None:
        """Per-pixel data weight ``w`` (None: 1 everywhere)."""
        if not self.confidence:
            return None
        return confidence_weight(confidence, self.log_conf_gain, self.log_conf_power)

    def solver_quantities(self) -> dict[str, torch.Tensor]:
        """Learned quantities by readable name: ``step``, ``alpha``, ``weight`` (``a_o``), ..."""
        g = self.game
        out = {"step": g.log_step.detach().exp(), "alpha": g.log_alpha.detach().exp(),
               "weight": g.weight.detach()}
        if self.guided:
            out["guide_kappa"] = g.guide_kappa.detach()
        if self.confidence:
            out["conf_gain"] = self.log_conf_gain.detach().exp()
            out["conf_power"] = self.log_conf_power.detach().exp()
        return out

    def forward(self, disp: torch.Tensor, image: torch.Tensor | None = None,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        """Refine ``disp``: ``s * z_K(disp / s)`` (module docstring)."""
        _check_map(disp, "disp")
        b, _, h, w = disp.shape
        if self.guided:
            if image is None:
                raise ValueError("this head is guided=True: pass image=(B, 3, H, W)")
            if image.dim() != 4 or tuple(image.shape) != (b, 3, h, w):
                raise ValueError(f"image must be ({b}, 3, {h}, {w}) like disp, got "
                                 f"{tuple(image.shape)}")
        if self.confidence:
            if confidence is None:
                raise ValueError("this head is confidence=True: pass confidence=(B, 1, H, W)")
            if tuple(confidence.shape) != (b, 1, h, w):
                raise ValueError(f"confidence must be ({b}, 1, {h}, {w}) like disp, got "
                                 f"{tuple(confidence.shape)}")
        s = disparity_scale(disp, self.scale, self.min_scale)
        guide = image.to(disp.dtype) if self.guided else None
        weight = self.data_weight(confidence.to(disp.dtype)) if self.confidence else None
        return self.game(disp / s, weight=weight, guide=guide) * s

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (f"guided={self.guided}, confidence={self.confidence}, scale={self.scale!r}, "
                f"params={n}")


def _as_map(x: torch.Tensor, name: str) -> torch.Tensor:
    """(B, H, W) or (B, 1, H, W) -> (B, 1, H, W)."""
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        return x.unsqueeze(1)
    _check_map(x, name)
    return x


class RefinedStereo(nn.Module):
    """A stereo backbone followed by a refinement head: ``refine(backbone(left, right))``.

    Args:
        backbone: ``backbone(left, right) -> (B, [1,] H, W)`` disparity in eval mode, a tuple
            of them in training (the last is the final one); with ``return_confidence=True``
            (when its ``forward`` accepts it) ``(disparity or tuple, confidence)``.
        refine: a :class:`TVRefine` (or any ``refine(disp, image=, confidence=)``).
        freeze_backbone: no gradient into the backbone, which always runs in eval mode (its
            batch-norm statistics stay fixed); only the head trains.

    ``forward(left, right)`` with ImageNet-normalised ``(B, 3, H, W)`` images returns the refined
    ``(B, 1, H, W)`` disparity in eval mode, and in training mode the tuple
    ``(*backbone_outputs, refined)`` for the loss. ``return_confidence=True`` also returns the
    backbone's confidence.
    """

    def __init__(self, backbone: nn.Module, refine: nn.Module, freeze_backbone: bool = False):
        super().__init__()
        self.backbone = backbone
        self.refine = refine
        self.freeze_backbone = freeze_backbone
        try:
            params = inspect.signature(backbone.forward).parameters
        except (TypeError, ValueError):
            params = {}
        self.backbone_has_confidence = "return_confidence" in params
        if getattr(refine, "confidence", False) and not self.backbone_has_confidence:
            raise ValueError(f"the head uses a confidence but {type(backbone).__name__}.forward "
                             "has no return_confidence argument")
        if freeze_backbone:
            for p in backbone.parameters():
                p.requires_grad_(False)
            backbone.eval()

    # the padding rules of the backbone (used by stereo_tv.predict)
    @property
    def size_multiple(self) -> int:
        return getattr(self.backbone, "size_multiple", 1)

    @property
    def min_size(self) -> int:
        return getattr(self.backbone, "min_size", 1)

    def train(self, mode: bool = True) -> RefinedStereo:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def backbone_disparity(self, left: torch.Tensor, right: torch.Tensor,
                           confidence: bool = False
                           ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
        """The backbone's disparities as a tuple of ``(B, 1, H, W)`` (final last) and its
        ``(B, 1, H, W)`` confidence (None unless asked for)."""
        kwargs = {"return_confidence": True} if confidence else {}
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            out = self.backbone(left, right, **kwargs)
        conf = None
        if confidence:
            out, conf = out
            conf = _as_map(conf, "backbone confidence")
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return tuple(_as_map(d, "backbone disparity") for d in outs), conf

    def forward(self, left: torch.Tensor, right: torch.Tensor, return_confidence: bool = False):
        want_conf = return_confidence or getattr(self.refine, "confidence", False)
        if want_conf and not self.backbone_has_confidence:
            raise ValueError(f"{type(self.backbone).__name__} gives no confidence")
        outs, conf = self.backbone_disparity(left, right, confidence=want_conf)
        refined = self.refine(outs[-1], image=left, confidence=conf)
        result = (*outs, refined) if self.training else refined
        return (result, conf) if return_confidence else result

    def extra_repr(self) -> str:
        return f"freeze_backbone={self.freeze_backbone}"


# ---------------------------------------------------------------------------- head files
def shipped_heads() -> list[str]:
    """Names of the heads shipped in ``stereo_tv/weights/stereo/`` (``load_head(name)``)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.pt"))


def shipped_head_for(backbone: str, iters: int) -> str:
    """The shipped head for ``backbone`` (``"psmnet"``, ``"sgbm"``) at ``iters`` iterations:
    ``<backbone>_tv<iters>_extra`` if shipped, else ``<backbone>_tv<iters>`` (gradient steps).

    Raises:
        UserError: none is shipped (the message lists the shipped heads).
    """
    for name in (f"{backbone}_tv{iters}_extra", f"{backbone}_tv{iters}"):
        if (SHIPPED_DIR / f"{name}.pt").is_file():
            return name
    raise UserError(f"no shipped {backbone} head with {iters} iterations; shipped: "
                    f"{', '.join(shipped_heads()) or '(none)'}")


def save_head(path: str | os.PathLike, refine: TVRefine, **meta: Any) -> Path:
    """Write a head file ``{"format", "config", "state_dict", **meta}`` atomically.

    ``meta`` holds plain values (e.g. ``backbone``, ``train`` with the exact command,
    ``metrics``); the file loads with ``torch.load(..., weights_only=True)``.
    """
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in refine.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": HEAD_FORMAT, "config": refine.config, "state_dict": state,
                    **meta}, tmp)
    return path


def _resolve_head(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".pt" or path.parent != Path("."):
        if not path.is_file():
            raise FileNotFoundError(2, "head file not found", str(path))
        return path
    shipped = SHIPPED_DIR / f"{name_or_path}.pt"
    if not shipped.is_file():
        raise UserError(f"no shipped head {str(name_or_path)!r}; shipped: "
                        f"{', '.join(shipped_heads()) or '(none)'}, or pass a .pt path")
    return shipped


def read_head(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The dict of a head file, by shipped name or path (``map_location="cpu"``)."""
    path = _resolve_head(name_or_path)
    data = load_torch_file(path, "head file")
    if (foreign := foreign_format(data, HEAD_FORMAT, path, "a TV head file")) is not None:
        raise UserError(foreign)
    if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
        raise UserError(f"{path} is not a TV head file (format {HEAD_FORMAT!r})")
    return data


def load_head(name_or_path: str | os.PathLike) -> TVRefine:
    """A :class:`TVRefine` in eval mode from a shipped name (``shipped_heads()``) or a path."""
    data = read_head(name_or_path)
    head = TVRefine(**data["config"])
    try:
        head.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise UserError(f"head file {name_or_path}: {str(exc).splitlines()[0]}") from None
    return head.eval()
