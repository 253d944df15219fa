"""Grayscale denoising with the paper's trainable priors (TV, NLTV, sparse coding, ...).

Public API:
    denoise(img, sigma, model="tv-asym-eg") -> (H, W) float
        Denoise a float image in [0, 1] with shipped weights (``sigma`` on the 0-255 scale).
    build_model(name, sigma, **overrides) -> nn.Module
        The paper's models by table name (``MODEL_NAMES``), untrained.
    load_weights(path) -> (model, metadata); save_weights(path, model, name, sigma, ...)
    shipped_sigmas(name) -> list of noise levels with shipped weights
    add_noise(x, sigma, seed), noise_seed(name)
        The noise protocol (see :mod:`stereo_tv.denoising._noise`).
    psnr(pred, clean), ssim(pred, clean)
    evaluate(model, NoisyImages(folder, sigma)) -> per-image and mean PSNR / SSIM / seconds
    TrainCrops, NoisyImages
        Training crops with fresh noise and fixed-noise test sets; the engine task is
        ``stereo_tv.denoising._task.DenoiseTask`` (imported on demand: it needs the engine).
    TinyCNN, ClassicalDenoiser, initial_dictionary
"""

from stereo_tv.denoising._api import apply_denoiser, denoise, load_denoiser
from stereo_tv.denoising._classical import ClassicalDenoiser
from stereo_tv.denoising._data import NoisyImages, TrainCrops, read_image, write_image
from stereo_tv.denoising._dictionary import initial_dictionary
from stereo_tv.denoising._eval import evaluate
from stereo_tv.denoising._metrics import psnr, ssim
from stereo_tv.denoising._noise import add_noise, noise_seed
from stereo_tv.denoising._tinycnn import TinyCNN
from stereo_tv.denoising._weights import (
                                        WeightsError,
                                        load_weights,
                                        read_weights,
                                        save_weights,
                                        shipped_models,
                                        shipped_path,
                                        shipped_sigmas,
                                        synthetic_image,
                                        training_summary,
)
from stereo_tv.denoising._zoo import MODEL_NAMES, build_model, model_family

__all__ = [
    "denoise", "load_denoiser", "apply_denoiser", "build_model", "MODEL_NAMES", "model_family",
    "load_weights", "read_weights", "save_weights", "shipped_path", "shipped_sigmas",
    "shipped_models", "synthetic_image", "WeightsError", "add_noise", "noise_seed", "psnr", "ssim",
    "TrainCrops", "NoisyImages", "read_image", "write_image", "TinyCNN", "ClassicalDenoiser",
    "initial_dictionary", "evaluate", "training_summary",
]
