"""Compressed-sensing MRI with trainable priors (paper Sec. 4, "Compressed Sensing for fMRI").

Forward model ``x = P F y`` (orthonormal 2-D FFT, binary radial sampling mask ``P``), real
images in ``[0, 1]``, complex k-space measurements. Pieces:

* :mod:`~stereo_tv.mri.masks`: mask files (unshifted layout, DC at ``[0, 0]``), radial generator.
* :mod:`~stereo_tv.mri.operator`: :class:`MaskedFourier` (``A``, exact real adjoint), noise.
* :mod:`~stereo_tv.mri.data`: image folders / ``.npy`` stacks, the ChestTrain split, PSNR.
* :mod:`~stereo_tv.mri.classical`: zero-filling and classical isotropic TV (Chambolle-Pock).
* :mod:`~stereo_tv.mri.models`: ``cs-tv`` and ``cs-sc`` (core games with the operator).
* :mod:`~stereo_tv.mri.pretrained`: shipped weights per sampling rate.

Example:
    >>> import torch
    >>> from stereo_tv.mri import MaskedFourier, radial_mask, zero_filled
    >>> op = MaskedFourier(radial_mask(32, 32, 0.3))
    >>> x = op.measure(torch.rand(1, 1, 32, 32))
    >>> zero_filled(x, op.mask).shape
    torch.Size([1, 1, 32, 32])
"""

from stereo_tv.mri.classical import ClassicalTV, tv_reconstruct
from stereo_tv.mri.data import MRIImages, chest_split, psnr, read_image
from stereo_tv.mri.evaluate import evaluate_reconstructor, summarize
from stereo_tv.mri.masks import load_mask, radial_mask, sampling_rate, symmetrize_mask
from stereo_tv.mri.models import MODELS, CSReconstruction, build_model
from stereo_tv.mri.operator import (
    CanvasOperator,
    MaskedFourier,
    add_kspace_noise,
    masked_fft,
    masked_fft_adjoint,
    zero_filled,
)
from stereo_tv.mri.pretrained import (
    available_weights,
    export_weights,
    load_pretrained,
    load_weights,
)

__all__ = [
    "MaskedFourier", "CanvasOperator", "masked_fft", "masked_fft_adjoint", "zero_filled",
    "add_kspace_noise",
    "load_mask", "radial_mask", "sampling_rate", "symmetrize_mask",
    "MRIImages", "read_image", "chest_split", "psnr",
    "ClassicalTV", "tv_reconstruct",
    "CSReconstruction", "build_model", "MODELS",
    "evaluate_reconstructor", "summarize",
    "available_weights", "load_pretrained", "load_weights", "export_weights",
]
