"""PSMNet (Chang & Chen, "Pyramid Stereo Matching Network", CVPR 2018), our own implementation.

Fenced-off backbone: module names and shapes match the official checkpoints so they load
unchanged. ``stereo_tv`` uses it only through :mod:`stereo_tv.models.psmnet`. See README.md for
the paper, the weights' source and licence, and every deviation from the original code.
"""

from .layers import (
    BasicBlock,
    DisparityRegression,
    FeatureExtraction,
    build_concat_volume,
    disparity_regression,
)
from .models import Hourglass, PSMNetBasic, PSMNetStackHourglass

__all__ = [
    "BasicBlock",
    "DisparityRegression",
    "FeatureExtraction",
    "Hourglass",
    "PSMNetBasic",
    "PSMNetStackHourglass",
    "build_concat_volume",
    "disparity_regression",
]
