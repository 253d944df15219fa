"""stereo_tv: trainable, interpretable image priors as unrolled convex games."""

__version__ = "0.1.0"
