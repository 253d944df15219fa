"""stereo_tv: trainable, interpretable image priors as unrolled convex games.

Public entry points:
    stereo_tv.core          PixelGame, PatchGame and the functional regularization core
    predict_disparity       any stereo backbone on uint8 images of any size
    TVRefine, RefinedStereo the trainable TV / extra-gradient head that wraps any disparity net
"""

from stereo_tv.predict import predict_disparity
from stereo_tv.refine import RefinedStereo, TVRefine

__version__ = "0.1.0"

__all__ = ["RefinedStereo", "TVRefine", "predict_disparity", "__version__"]
