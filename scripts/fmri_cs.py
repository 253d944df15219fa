"""Compressed-sensing MRI with trainable priors (paper Sec. 4): train, evaluate, reconstruct.

Commands::

    # train CS-TV for the standard 20% radial mask on ChestTrain (80 train / 20 val images)
    python scripts/fmri_cs.py train --model cs-tv --rate 20 --config configs/mri/cs_tv.yaml
    # export the best checkpoint of a run as a small weight file
    python scripts/fmri_cs.py export --run-dir runs/mri_cs_tv_20 \
        --out stereo_tv/weights/mri/cs_tv_20.pt
    # PSNR per image on a folder (shipped weights, or --weights FILE)
    python scripts/fmri_cs.py eval --model cs-tv --rate 20 --data DIR --json out.json
    # simulate a measurement of one image and reconstruct it; or reconstruct measured k-space
    python scripts/fmri_cs.py run --image img.png --rate 20 --out recon.png
    python scripts/fmri_cs.py run --kspace k.npy --mask m.png --rate 20 --out recon.png

Masks are in the unshifted FFT layout (DC at [0, 0]); pass ``--centered`` for files with DC in
the middle. ``--mask radial`` generates a radial mask of the image size at ``--rate``.
``eval`` also takes the non-learned ``--model zero-filled`` and ``--model tv`` (classical TV).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.config import shared_root
from stereo_tv.mri import (
    ClassicalTV,
    MaskedFourier,
    MRIImages,
    build_model,
    chest_split,
    evaluate_reconstructor,
    load_mask,
    load_pretrained,
    load_weights,
    psnr,
    radial_mask,
    sampling_rate,
    summarize,
)
from stereo_tv.mri.dictionary import learn_dictionary, overcomplete_dct, sample_patches
from stereo_tv.mri.masks import find_shared_mask
from stereo_tv.mri.models import complete_record
from stereo_tv.mri.pretrained import available_weights
from stereo_tv.mri.training import CSTask, export_run, untrained_validation
from stereo_tv.train import (
    Engine,
    EngineConfig,
    add_engine_args,
    check_resumed,
    resumed_config,
    run_directory,
    seed_everything,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()
LEARNED = ("cs-tv", "cs-sc")
BASELINES = ("zero-filled", "tv")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("command", choices=("train", "eval", "run", "export"))
    g = p.add_argument_group("model and sampling")
    g.add_argument("--model", default="cs-tv",
                   help=f"train: {' | '.join(LEARNED)}; eval/run: shipped weights of that model, "
                        f"or (eval) a baseline {' | '.join(BASELINES)} (default: cs-tv)")
    g.add_argument("--weights", default=None, help="eval/run: weight file or run checkpoint")
    g.add_argument("--rate", type=int, default=None, help="sampling rate in percent (10-50)")
    g.add_argument("--mask", default=None,
                   help="mask file (.png/.npy/.mat), or 'radial' for a generated radial mask; "
                        "default: train the standard mask of --rate, eval/run the weights' mask")
    g.add_argument("--centered", action="store_true",
                   help="the mask (and --kspace) files have DC at the centre (fftshift layout)")
    g.add_argument("--sigma", type=float, default=0.0,
                   help="std of complex Gaussian k-space noise ([0, 1] image scale)")
    g = p.add_argument_group("game options (train)")
    g.add_argument("--iters", type=int, default=24, help="unrolled iterations K")
    g.add_argument("--method", choices=("gd", "extragrad"), default=None,
                   help="solver (default: extragrad for cs-tv, gd for cs-sc)")
    g.add_argument("--symmetric", action="store_true", help="cs-tv: symmetric weights")
    g.add_argument("--connectivity", type=int, choices=(4, 8), default=8)
    g.add_argument("--init-step", type=float, default=None, help="initial step (default: game's)")
    g.add_argument("--init-weight", type=float, default=None, help="cs-tv: initial TV weight")
    g.add_argument("--init-alpha", type=float, default=None, help="cs-tv: initial smoothing")
    g.add_argument("--patch", type=int, default=9, help="cs-sc: patch size")
    g.add_argument("--atoms", type=int, default=256, help="cs-sc: dictionary size")
    g.add_argument("--variance", action="store_true", help="cs-sc: variance-reduction term")
    g.add_argument("--init-lambda", type=float, default=None,
                   help="cs-sc: initial l1 weight as stored: the weight on [0, 1] images "
                        "times --scale (default 1e-2, i.e. 1e-4 at scale 100)")
    g.add_argument("--code-init", choices=("lsq", "zero"), default=None,
                   help="cs-sc: codes' start: 'lsq' (least-squares codes of the zero-filled "
                        "image, the default) or 'zero'")
    g.add_argument("--scale", type=float, default=None,
                   help="run the game on scale * x and divide the result by scale: a "
                        "preconditioning of the learned prior weights (default: the model's, "
                        "100)")
    g.add_argument("--dictionary", default="dct",
                   help="cs-sc initial dictionary: 'dct' (overcomplete DCT), 'learned' "
                        "(scikit-learn on the training images, cached in the run directory; "
                        "slow) or a (patch^2, atoms) .npy file")
    g.add_argument("--checkpoint-iters", action="store_true",
                   help="activation checkpointing of the unrolled iterations (less memory)")
    g.add_argument("--init-from", default=None,
                   help="train: warm start from a weight file / checkpoint (e.g. another rate)")
    g = p.add_argument_group("data")
    g.add_argument("--data", default=None,
                   help="folder of .png/.npy images or a stacked .npy (train default: "
                        "ChestTrain from the shared data)")
    g.add_argument("--val-data", default=None, help="train: separate validation images")
    g.add_argument("--val-count", type=int, default=None,
                   help="train: last N images of --data for validation (default: the fixed "
                        "ChestTrain split, 20 images)")
    g.add_argument("--limit", type=int, default=0, help="eval: first N images only")
    g.add_argument("--no-augment", action="store_true", help="train: no rotations / flips")
    g = p.add_argument_group("outputs")
    g.add_argument("--json", default=None, help="eval: write per-image results here")
    g.add_argument("--image", default=None, help="run: ground-truth image to measure")
    g.add_argument("--kspace", default=None, help="run: measured complex k-space (.npy, H x W)")
    g.add_argument("--out", default=None,
                   help="run: reconstruction (.png 8-bit or .npy float); export: weight file")
    g.add_argument("--which", choices=("best", "last"), default="best", help="export: checkpoint")
    g.add_argument("--tv-lam", type=float, default=5e-4,
                   help="eval --model tv: TV weight (benchmarks/mri_baselines.py tunes it)")
    g.add_argument("--tv-iters", type=int, default=200, help="eval --model tv: iterations")
    add_engine_args(p)
    p.set_defaults(epochs=150, batch_size=1, lr=6e-4, workers=0, best_metric="val/psnr",
                   name=None, log_images_every=10)
    return p


# ----------------------------------------------------------------------------- helpers
def model_kwargs(args: argparse.Namespace) -> dict:
    """Game options of ``--model`` from the command line (``None`` = the model's default)."""
    kw = {"iters": args.iters, "method": args.method, "checkpoint": args.checkpoint_iters,
          "init_step": args.init_step, "scale": args.scale}
    if args.model == "cs-tv":
        kw.update(symmetric=args.symmetric, connectivity=args.connectivity,
                  init_weight=args.init_weight, init_alpha=args.init_alpha)
    else:
        kw.update(patch_size=args.patch, num_atoms=args.atoms, init_l1=args.init_lambda,
                  code_init=args.code_init,
                  priors=["l1", "variance"] if args.variance else ["l1"])
    return {k: v for k, v in kw.items() if v is not None}


def resumed_model_kwargs(args: argparse.Namespace) -> dict | None:
    """The game options a ``--resume``d run was built with (its checkpoint's record), so a run
    keeps its game when the command line or the defaults change; ``None`` without ``--resume``.
    A different ``--model``, ``--rate``, ``--mask`` or ``--sigma`` is a one-line error.
    """
    resumed = resumed_config(args.run_dir, args.name, args.resume)
    if resumed is None:
        return None
    path, recorded = resumed
    check_resumed(path, recorded, {k: getattr(args, k) for k in ("model", "rate", "mask",
                                                                  "sigma")})
    saved = recorded.get("model_kwargs")
    if saved:
        saved = complete_record(recorded.get("model", args.model), saved)
        print(f"resuming {path}: the game keeps its recorded options {saved}")
    return saved


def open_data(path: str | os.PathLike, augment: bool = False) -> MRIImages:
    try:
        return MRIImages(path, augment=augment)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def resolve_mask(args: argparse.Namespace, size: tuple[int, int] | None,
                 default: torch.Tensor | None = None) -> torch.Tensor:
    """``--mask`` file / ``radial``, else ``default``, else the standard mask of ``--rate``."""
    if args.mask == "radial":
        if args.rate is None or size is None:
            raise UserError("--mask radial needs --rate and an image to take the size from")
        return radial_mask(*size, args.rate / 100)
    if args.mask is not None:
        try:
            return load_mask(args.mask, centered=args.centered)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if default is not None:
        return default
    if args.rate is None:
        raise UserError("give --rate (percent) or --mask")
    try:
        return load_mask(find_shared_mask(args.rate, SHARED / "data"))
    except FileNotFoundError:
        raise UserError(f"no standard {args.rate}% mask under {SHARED / 'data'}; pass --mask FILE "
                        "or --mask radial") from None


def check_sizes(dataset: MRIImages, mask: torch.Tensor) -> None:
    h, w = mask.shape
    for img, name in zip(dataset.images, dataset.names):
        if tuple(img.shape) != (h, w):
            raise UserError(f"image {name} is {img.shape[0]}x{img.shape[1]} but the mask is "
                            f"{h}x{w}; pass a mask of the image size (--mask FILE or "
                            "--mask radial)")


def load_model(args: argparse.Namespace):
    """The learned model of ``--weights`` or shipped ``--model`` / ``--rate``."""
    if args.weights:
        model = load_weights(args.weights)
        trained = model.meta.get("rate")
        if args.rate is not None and trained is not None and args.rate != trained \
                and args.mask is None:
            raise UserError(f"{args.weights} was trained for rate {trained}%, not {args.rate}%; "
                            "pass --mask to use it with another sampling pattern")
        return model
    if args.model not in LEARNED:
        raise UserError(f"unknown model '{args.model}'; valid: {', '.join(LEARNED + BASELINES)}")
    if args.rate is None:
        raise UserError(f"give --rate; shipped {args.model} rates: "
                        f"{available_weights().get(args.model, [])}")
    return load_pretrained(args.model, args.rate)


# ----------------------------------------------------------------------------- training
def initial_dictionary(args: argparse.Namespace, images: list[np.ndarray]) -> np.ndarray:
    """``--dictionary``: DCT, a file, or one learned on ``images`` (cached in the run dir)."""
    if args.dictionary == "dct":
        try:
            return overcomplete_dct(args.patch, args.atoms)
        except ValueError as exc:
            raise UserError(f"--dictionary dct: {exc}") from None
    if args.dictionary != "learned":
        path = Path(args.dictionary)
        if not path.is_file():
            raise FileNotFoundError(f"dictionary file not found: {path}")
        return np.load(path)
    cache = run_directory(args.run_dir, args.name) / "dictionary.npy"
    if cache.is_file():
        return np.load(cache)
    print(f"learning a {args.patch}x{args.patch} x {args.atoms} dictionary on "
          f"{len(images)} training images ...", flush=True)
    d = learn_dictionary(sample_patches(images, args.patch, 20_000, args.seed), args.atoms,
                         iters=5, seed=args.seed)
    with atomic_path(cache) as tmp:
        np.save(tmp, d)
    return d


def train(args: argparse.Namespace) -> int:
    if args.model not in LEARNED:
        raise UserError(f"train needs --model {' or '.join(LEARNED)}, got {args.model}")
    if args.rate is None and args.mask is None:
        raise UserError("give --rate (percent) or --mask")
    seed_everything(args.seed)
    data = args.data or SHARED / "data" / "mri" / "ChestTrain" / "chest_train_float32.npy"
    train_set = open_data(data, augment=not args.no_augment)
    mask = resolve_mask(args, next(iter(train_set.sizes())))
    check_sizes(train_set, mask)
    args.rate = args.rate or round(100 * sampling_rate(mask))
    args.name = args.name or f"mri_{args.model.replace('-', '_')}_{args.rate}"
    EngineConfig.from_args(args)             # a bad engine option fails before any slow set-up
    if args.val_data:
        val_set = open_data(args.val_data)
        check_sizes(val_set, mask)
        train_idx = list(range(len(train_set)))
        val_idx = list(range(len(val_set)))
    else:
        if args.val_count is not None:
            n = len(train_set)
            if not 0 < args.val_count < n:
                raise UserError(f"--val-count must be in 1..{n - 1}, got {args.val_count}")
            train_idx, val_idx = list(range(n - args.val_count)), list(range(n - args.val_count, n))
        else:
            try:
                train_idx, val_idx = chest_split(train_set.names)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        val_set = copy.copy(train_set)
        val_set.augment = False
    extra = {}
    if args.model == "cs-sc" and not args.resume:
        extra["dictionary"] = initial_dictionary(args, [train_set.images[i] for i in train_idx])
    try:          # game options that do not fit together (e.g. --atoms vs the dictionary)
        model = build_model(args.model, mask,
                            **(resumed_model_kwargs(args) or model_kwargs(args)), **extra)
    except ValueError as exc:
        raise UserError(f"--model {args.model}: {exc}") from None
    args.model_kwargs = model.options        # resolved, defaults included
    if args.init_from and not args.resume:
        source = load_weights(args.init_from)
        state = {k: v for k, v in source.state_dict().items() if k != "operator.mask"}
        missing = model.load_state_dict(state, strict=False)
        if missing.unexpected_keys or [k for k in missing.missing_keys if k != "operator.mask"]:
            raise UserError(f"--init-from {args.init_from} does not fit {args.model}")
    task = CSTask(mask, args.sigma, args.seed)
    val_subset = Subset(val_set, val_idx)
    engine = Engine.from_args(model, task, Subset(train_set, train_idx), {"val": val_subset},
                              args)
    if not args.resume and not args.eval_only:
        metrics = untrained_validation(engine.run_dir, engine.model, task, val_subset)
        print("untrained: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    t0 = time.time()
    engine.run()
    if not args.eval_only:
        out = engine.run_dir / "export" / f"{args.model.replace('-', '_')}_{args.rate}.pt"
        export_run(engine.run_dir, out, which="best" if engine.best["epoch"] else "last")
        print(f"exported {out} ({time.time() - t0:.0f}s this session)")
    return 0


def export(args: argparse.Namespace) -> int:
    run_dir = run_directory(args.run_dir, args.name)
    if not args.out:
        raise UserError("export needs --out FILE.pt")
    out = export_run(run_dir, args.out, args.which)
    meta = load_weights(out).meta
    print(f"exported {out}: {meta['model']} rate {meta['rate']}%, epoch {meta.get('epoch')}, "
          f"val PSNR {meta.get('val_psnr')} dB, {meta.get('train_seconds')} s of training")
    return 0


# ----------------------------------------------------------------------------- eval / run
def evaluate(args: argparse.Namespace) -> int:
    if not args.data:
        raise UserError("eval needs --data (folder of .png/.npy images or a stacked .npy)")
    device = pick_device(args.device)
    baseline = args.model in BASELINES and not args.weights
    model = None if baseline else load_model(args).to(device)
    dataset = open_data(args.data)
    if args.limit:
        dataset.images, dataset.names = dataset.images[:args.limit], dataset.names[:args.limit]
    size = tuple(dataset.images[0].shape)
    if baseline:
        mask = resolve_mask(args, size)
        tv = ClassicalTV(lam=args.tv_lam, iters=args.tv_iters)

        def reconstruct(x, op):
            return op.adjoint(x) if args.model == "zero-filled" else tv(x, op)
        label = args.model
    else:
        mask = resolve_mask(args, size, default=model.operator.mask.cpu())

        def reconstruct(x, op):
            return model(x, op)
        label = model.meta["model"]
    check_sizes(dataset, mask)
    operator = MaskedFourier(mask).to(device)
    rows = evaluate_reconstructor(reconstruct, dataset, operator, sigma=args.sigma,
                                  seed=args.seed)
    mean = summarize(rows)
    for r in rows:
        print(f"{r['name']}  {r['psnr']:.2f} dB  {r['seconds']:.3f} s")
    print(f"mean  {label}  rate {100 * operator.rate:.1f}%  {mean['psnr']:.2f} dB  "
          f"{mean['seconds']:.3f} s/image  ({mean['count']} images, {device.type})")
    if args.json:
        result = {"model": label, "rate": 100 * operator.rate, "sigma": args.sigma,
                  "device": device.type, "images": rows, "mean": mean}
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _save_image(path: str, image: torch.Tensor) -> None:
    arr = image.detach().cpu().clamp(0, 1)[0, 0].numpy()
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".npy"):
        raise UserError(f"--out must end in .png or .npy, got {path}")
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            np.save(tmp, arr.astype(np.float32))
        else:
            import cv2

            if not cv2.imwrite(str(tmp), np.round(arr * 255).astype(np.uint8)):
                raise UserError(f"cannot write {path}")


def run(args: argparse.Namespace) -> int:
    if bool(args.image) == bool(args.kspace):
        raise UserError("run needs exactly one of --image IMG (simulate) or --kspace K.npy")
    if not args.out:
        raise UserError("run needs --out RECON.png (or .npy)")
    device = pick_device(args.device)
    model = load_model(args).to(device)
    if args.image:
        image = open_data(args.image)
        size = tuple(image.images[0].shape)
    else:
        kpath = Path(args.kspace)
        if not kpath.is_file():
            raise FileNotFoundError(f"k-space file not found: {kpath}")
        k = np.load(kpath, allow_pickle=False)
        if k.ndim != 2:
            raise UserError(f"{kpath}: k-space must be a 2-D (H, W) array, got shape {k.shape}")
        size = k.shape
    mask = resolve_mask(args, size, default=model.operator.mask.cpu())
    operator = MaskedFourier(mask).to(device)
    if tuple(size) != operator.shape:
        what = "image" if args.image else "k-space"
        raise UserError(f"{what} is {size[0]}x{size[1]} but the mask is "
                        f"{operator.shape[0]}x{operator.shape[1]}; pass a mask of that size "
                        "(--mask FILE or --mask radial)")
    with torch.inference_mode():
        if args.image:
            truth = torch.from_numpy(image.images[0])[None, None].to(device)
            generator = torch.Generator(device=device).manual_seed(args.seed)
            x = operator.measure(truth, sigma=args.sigma, generator=generator)
        else:
            k = torch.from_numpy(k.astype(np.complex64))
            if args.centered:
                k = torch.fft.ifftshift(k, dim=(-2, -1))
            x = (k * operator.mask.cpu())[None, None].to(device)
        t0 = time.perf_counter()
        recon = model(x, operator)
        seconds = time.perf_counter() - t0
    _save_image(args.out, recon)
    line = f"wrote {args.out} ({model.meta['model']}, rate {100 * operator.rate:.1f}%, " \
           f"{seconds:.3f} s)"
    if args.image:
        line += (f"; PSNR {float(psnr(recon.clamp(0, 1), truth)[0]):.2f} dB, zero-filled "
                 f"{float(psnr(operator.adjoint(x).clamp(0, 1), truth)[0]):.2f} dB")
    print(line)
    return 0


def main(args: argparse.Namespace) -> int:
    if args.rate is not None and not 0 < args.rate <= 100:
        raise UserError(f"--rate is a percentage in 1..100, got {args.rate}")
    return {"train": train, "eval": evaluate, "run": run, "export": export}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
