"""Adapter between ``stereo_tv`` and the fenced-off PSMNet backbone in ``thirdparty/psmnet``.

:class:`PSMNet` gives the backbone the interface every stereo model here shares:
``model(left, right) -> (B, 1, H, W)`` disparity in eval mode, an optional confidence map, and
:meth:`PSMNet.from_checkpoint` for the official release files (``{"state_dict": {"module.*"}}``)
and for our own checkpoints (``{"model": ...}``).

Inputs are ImageNet-normalized ``(B, 3, H, W)`` tensors with ``H`` and ``W`` multiples of 16
and at least 256; :func:`stereo_tv.predict.predict_disparity` pads any size for you.

Example:
    >>> import torch
    >>> model = PSMNet(maxdisp=16).eval()
    >>> x = torch.zeros(1, 3, 256, 256)
    >>> model(x, x).shape
    torch.Size([1, 1, 256, 256])
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stereo_tv.cli import UserError, load_torch_file
from thirdparty.psmnet import PSMNetBasic, PSMNetStackHourglass

__all__ = ["PSMNet", "psmnet_loss", "psmnet_memory_bytes", "load_state_dict_file"]

_VARIANTS = {"stackhourglass": PSMNetStackHourglass, "basic": PSMNetBasic}
_LOSS_WEIGHTS = {"stackhourglass": (0.5, 0.7, 1.0), "basic": (1.0,)}
_CONFIDENCES = ("maxprob", "entropy")
_PREFIXES = ("module.", "net.")


def psmnet_memory_bytes(height: int, width: int, maxdisp: int = 192, batch: int = 1,
                        training: bool = False) -> int:
    """Rough peak memory of one PSMNet forward, in bytes, for a padded ``height x width`` pair.

    The largest tensors are the quarter-resolution 4-D cost volumes, 32 to 64 channels of
    ``maxdisp/4 x H/4 x W/4``, and the full-resolution ``maxdisp x H x W`` softmax volume, each
    ``V = 4 * maxdisp * H * W`` bytes or half of it. The eval estimate is ``4 V + 400 MiB``; on
    CPU in float32 a forward measured 3.3 V (384x1248, 1.2 GB) and 4.8 V (256x384) above the
    resident size before it (``benchmarks/stereo_speed.py``). Training keeps every activation
    for backward; its estimate is a rough ``40 V``.
    """
    volume = 4 * batch * maxdisp * height * width
    return int(40.0 * volume) if training else int(4.0 * volume) + 400 * 2**20


def _strip_prefixes(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a PSMNet state dict from an official release file or one of our checkpoints.

    Accepts ``{"state_dict": ...}`` (release), ``{"model": ...}`` (stereo_tv checkpoints) or a
    bare state dict; drops the ``module.`` (DataParallel) and ``net.`` (adapter) prefixes.

    Raises:
        FileNotFoundError: no such file.
        UserError: the file is not a readable PyTorch checkpoint or holds no state dict.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise UserError(f"checkpoint {path} is not a file")
    ckpt = load_torch_file(path, "checkpoint")
    state = ckpt
    if isinstance(ckpt, dict):
        for key in ("state_dict", "model"):
            if isinstance(ckpt.get(key), dict):
                state = ckpt[key]
                break
    if not isinstance(state, dict) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"checkpoint {path} holds no state dict of tensors "
                        f"(expected a 'state_dict' or 'model' entry)")
    return _strip_prefixes(state)


def _show(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


class PSMNet(nn.Module):
    """PSMNet (Chang & Chen, CVPR 2018) behind the common stereo-model interface.

    Args:
        maxdisp: disparity levels D (multiple of 16 for the stacked hourglass, of 4 for basic).
        variant: ``"stackhourglass"`` (the released model) or ``"basic"``.
        align_corners: of all bilinear / trilinear upsampling; True matches the release weights.
        use_checkpoint: gradient checkpointing of the 3-D blocks in training.
        confidence: ``"maxprob"`` (largest softmax probability) or ``"entropy"``
            (``1 - H(p) / log D``); both in ``[0, 1]``, high where the match is unambiguous.

    Eval ``forward(left, right)``: ``(B, 3, H, W)`` normalized images -> ``(B, 1, H, W)``
    disparity in pixels; with ``return_confidence=True`` also a ``(B, 1, H, W)`` confidence.
    Training mode returns a tuple of disparities, weighted by :attr:`loss_weights`
    (0.5 / 0.7 / 1.0 for the stacked hourglass), see :func:`psmnet_loss`.
    """

    def __init__(self, maxdisp: int = 192, variant: str = "stackhourglass",
                 align_corners: bool = True, use_checkpoint: bool = False,
                 confidence: str = "maxprob"):
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"unknown PSMNet variant {variant!r}; valid: {', '.join(_VARIANTS)}")
        if confidence not in _CONFIDENCES:
            raise ValueError(f"unknown confidence {confidence!r}; valid: {', '.join(_CONFIDENCES)}")
        self.variant = variant
        self.confidence = confidence
        self.loss_weights = _LOSS_WEIGHTS[variant]
        self.net = _VARIANTS[variant](maxdisp=maxdisp, align_corners=align_corners,
                                      use_checkpoint=use_checkpoint)

    @property
    def maxdisp(self) -> int:
        return self.net.maxdisp

    @property
    def size_multiple(self) -> int:
        return self.net.size_multiple

    @property
    def min_size(self) -> int:
        return self.net.min_size

    def memory_bytes(self, height: int, width: int, batch: int = 1,
                     training: bool | None = None) -> int:
        """Estimated peak memory of a forward at this size (``training`` defaults to the
        module's mode), see :func:`psmnet_memory_bytes`."""
        training = self.training if training is None else training
        return psmnet_memory_bytes(height, width, self.maxdisp, batch, training)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, confidence={self.confidence!r}"

    def check_input(self, left: torch.Tensor, right: torch.Tensor) -> None:
        """Raise ``ValueError`` unless the pair is (B,3,H,W), equal, H,W multiples of 16 >= 256."""
        if left.ndim != 4 or left.shape[1] != 3:
            raise ValueError(f"left must be (B, 3, H, W), got {tuple(left.shape)}")
        if right.shape != left.shape:
            raise ValueError(f"left and right shapes differ: {tuple(left.shape)} vs "
                             f"{tuple(right.shape)}")
        h, w = left.shape[-2:]
        m, s = self.size_multiple, self.min_size
        if h % m or w % m or h < s or w < s:
            raise ValueError(f"PSMNet needs H and W multiples of {m} and at least {s}, got "
                             f"{h}x{w}; pad with stereo_tv.predict.pad_to_multiple")

    def forward(self, left: torch.Tensor, right: torch.Tensor, return_confidence: bool = False):
        self.check_input(left, right)
        if not return_confidence:
            out = self.net(left, right)
            if self.training:
                return tuple(d.unsqueeze(1) for d in (out if isinstance(out, tuple) else (out,)))
            return out.unsqueeze(1)
        out, prob = self.net(left, right, return_prob=True)
        conf = self._confidence(prob)
        del prob
        if self.training:
            outs = tuple(d.unsqueeze(1) for d in (out if isinstance(out, tuple) else (out,)))
            return outs, conf
        return out.unsqueeze(1), conf

    def _confidence(self, prob: torch.Tensor) -> torch.Tensor:
        if self.confidence == "maxprob":
            return prob.amax(dim=1, keepdim=True)
        entropy = -torch.special.xlogy(prob, prob).sum(dim=1, keepdim=True)
        return (1.0 - entropy / torch.log(torch.tensor(float(prob.shape[1])))).clamp(0.0, 1.0)

    def load_backbone_state(self, state: dict[str, torch.Tensor], source: str = "state dict"):
        """Load a prefix-free backbone state dict strictly; mismatches raise one-line UserError."""
        own = self.net.state_dict()
        expected = [k for k in own if not k.endswith("num_batches_tracked")]
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in own]
        if missing or unexpected:
            raise UserError(
                f"{source} is not a PSMNet ({self.variant}) checkpoint: {len(missing)} missing "
                f"keys [{_show(missing)}]; {len(unexpected)} unexpected keys "
                f"[{_show(unexpected)}]")
        bad = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in expected
               if state[k].shape != own[k].shape]
        if bad:
            raise UserError(f"{source}: {len(bad)} tensors have the wrong shape [{_show(bad, 3)}]")
        self.net.load_state_dict(state, strict=True)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, maxdisp: int = 192,
                        variant: str | None = None, **kwargs) -> PSMNet:
        """Build a PSMNet in eval mode from a release or stereo_tv checkpoint, on CPU.

        Args:
            path: ``.tar`` / ``.pt`` file, e.g. the official ``pretrained_model_KITTI2015.tar``.
            maxdisp: disparity levels; the weights do not depend on it.
            variant: ``None`` detects it from the keys (``classif1.*`` or ``classify.*``).
            **kwargs: other constructor arguments (``align_corners``, ``confidence`` ...).

        Raises:
            FileNotFoundError: no such file.
            UserError: corrupt file, or a checkpoint of another model (lists missing keys).
        """
        state = load_state_dict_file(path)
        if variant is None:
            variant = "basic" if any(k.startswith("classify.") for k in state) else \
                "stackhourglass"
        model = cls(maxdisp=maxdisp, variant=variant, **kwargs)
        model.load_backbone_state(state, source=f"checkpoint {path}")
        return model.eval()


def psmnet_loss(preds, disp: torch.Tensor, valid: torch.Tensor,
                weights: tuple[float, ...] = (0.5, 0.7, 1.0)) -> torch.Tensor:
    """Weighted smooth-L1 loss of the training outputs on valid pixels (paper Eq. 2).

    Args:
        preds: tuple of (B, 1, H, W) disparities (training-mode output of :class:`PSMNet`).
        disp: (B, 1, H, W) ground truth; valid: (B, 1, H, W) bool mask.
        weights: one per output; the release uses 0.5 / 0.7 / 1.0.
    """
    if isinstance(preds, torch.Tensor):
        preds = (preds,)
    if len(preds) != len(weights):
        raise ValueError(f"got {len(preds)} outputs but {len(weights)} loss weights")
    if not valid.any():
        return sum(p.sum() * 0.0 for p in preds)
    return sum(w * F.smooth_l1_loss(p[valid], disp[valid], reduction="mean")
               for w, p in zip(weights, preds))
