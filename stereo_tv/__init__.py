"""stereo_tv: trainable, interpretable image priors as unrolled convex games.

Public entry points:
    stereo_tv.core          PixelGame, PatchGame and the functional regularization core
    predict_disparity       any stereo backbone on uint8 images of any size
    TVRefine, RefinedStereo the trainable TV / extra-gradient head that wraps any disparity net
    denoise                 denoise(img, sigma, model="tv-asym-eg"): a float (H, W) image in
                            [0, 1] with the shipped weights (stereo_tv.denoising has the rest)
    stereo_tv.mri           CS-MRI: masks, the Fourier operator, CS-TV / CS-SC
"""

from stereo_tv.denoising import denoise
from stereo_tv.predict import predict_disparity
from stereo_tv.refine import RefinedStereo, TVRefine

__version__ = "0.1.0"

__all__ = ["RefinedStereo", "TVRefine", "denoise", "predict_disparity", "__version__"]
