"""Stereo backbones sharing one interface: ``model(left, right) -> (B, 1, H, W)`` disparity.

* :class:`PSMNet` -- adapter to the PSMNet backbone in ``thirdparty/psmnet`` (loads the
  official checkpoints with :meth:`PSMNet.from_checkpoint`).
* :mod:`stereo_tv.models.classical` -- ``SGBMBackbone`` (OpenCV semi-global matching).
* :class:`TimmStereo` -- a light cost-volume network on any timm feature encoder
  (``pretrained=False``: nothing downloads).

Inputs are ImageNet-normalized ``(B, 3, H, W)`` images; see :mod:`stereo_tv.predict` for numpy
images of any size.
"""

from stereo_tv.models.classical import SGBMBackbone
from stereo_tv.models.psmnet import PSMNet, psmnet_loss, psmnet_memory_bytes
from stereo_tv.models.timm_stereo import TimmStereo

__all__ = ["PSMNet", "SGBMBackbone", "TimmStereo", "psmnet_loss", "psmnet_memory_bytes"]
