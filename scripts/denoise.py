"""Grayscale denoising: train, export, evaluate and run the paper's denoisers.

Verbs (one flat set of options, so ``--config FILE.yaml`` can set any of them):

* ``train --model NAME --sigma S [--data Train400] [--val Set12] [--export PATH]``: trains with
  the engine :mod:`stereo_tv.train` on random crops of the training images, validates on the
  fixed-noise validation images every epoch (best checkpoint by ``<val>/psnr``), resumable
  with ``--resume``; ``--export`` writes the small weight file at the end.
* ``export --run-dir DIR --out PATH``: weight file from a run's best (or last) checkpoint.
* ``eval (--model NAME | --weights PATH) --sigma S --data DIR [--json OUT]``: per-image and
  mean PSNR, SSIM and seconds under the noise protocol of :mod:`stereo_tv.denoising._noise`.
* ``run --input NOISY.png --sigma S --out CLEAN.png [--model NAME | --weights PATH]``: denoise
  a user's image of any size, gray or colour (per channel).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.config import shared_root
from stereo_tv.denoising import (
    MODEL_NAMES,
    NoisyImages,
    TrainCrops,
    apply_denoiser,
    build_model,
    evaluate,
    initial_dictionary,
    load_denoiser,
    load_weights,
    model_family,
    read_image,
    read_weights,
    save_weights,
    training_summary,
    write_image,
)
from stereo_tv.denoising._weights import SHIPPED_DIR
from stereo_tv.denoising._zoo import PATCH_MODELS, PIXEL_MODELS
from stereo_tv.train import add_engine_args

REPO = Path(__file__).resolve().parents[1]
DATA = shared_root() / "data" / "denoise"
VERBS = ("train", "export", "eval", "run", "weights")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train, export, evaluate and run denoisers.")
    p.add_argument("command", choices=VERBS,
                   help="what to do ('weights': the table of shipped weight files, or --weights "
                        "FILE..., with their Set12 scores and training budgets)")
    p.add_argument("--model", default="tv-asym-eg",
                   help=f"model name, one of: {', '.join(MODEL_NAMES)}")
    p.add_argument("--sigma", type=float, default=None, help="noise level (0-255 scale)")
    p.add_argument("--weights", default=None, nargs="+",
                   help="eval/run: a weight file instead of --model; weights: the files to list")
    p.add_argument("--untrained", action="store_true",
                   help="eval/run: the model's initialization (no weights)")
    # data
    p.add_argument("--data", default=None,
                   help=f"train: training images (default {DATA}/Train400); eval: test images")
    p.add_argument("--val", default=None,
                   help=f"train: validation images (default {DATA}/Set12); export: score the "
                        "file on these instead of the run's validation images")
    p.add_argument("--crop", type=int, default=64, help="train: crop side")
    p.add_argument("--crops-per-image", type=int, default=1, help="train: crops per image/epoch")
    p.add_argument("--train-limit", type=int, default=None, help="train: first N images only")
    p.add_argument("--val-limit", type=int, default=None, help="train: first N val images only")
    p.add_argument("--val-stride", type=int, default=1,
                   help="train: every N-th val image (sorted by name), before --val-limit; "
                        "--val .../Train400 --val-stride 4 --val-limit 100 is the 100-image "
                        "Train400 proxy of benchmarks/denoise_psnr.py (--val-stride 25 "
                        "--val-limit 16: 16 images, for the slow non-local games; "
                        "configs/denoise/cpu-nltv.yaml caps validation at 4)")
    p.add_argument("--every", type=int, default=1, help="eval: every N-th image of --data only")
    p.add_argument("--offset", type=int, default=0,
                   help="eval: start at this image of --data (with --every: another subset, "
                        "as in benchmarks/denoise_psnr.py)")
    p.add_argument("--init-from", default=None,
                   help="train: start from this weight file (another sigma: solver weights "
                        "are rescaled by the sigma ratio)")
    p.add_argument("--tune-init", action=argparse.BooleanOptionalAction, default=True,
                   help="train: tune the initial solver quantities on training images first")
    p.add_argument("--init-jitter", type=float, default=0.0,
                   help="train: multiply each asymmetric grid weight by 1 + J * N(0, 1) before "
                        "training, so the game leaves the mirror-symmetric start "
                        "(stereo_tv.denoising._init.jitter_weights)")
    p.add_argument("--dict-patches", type=int, default=100_000,
                   help="train, patch models: training patches for the initial dictionary")
    p.add_argument("--dict-iters", type=int, default=300,
                   help="train, patch models: dictionary-learning iterations")
    p.add_argument("--dict-cache", default=str(REPO / "cache" / "denoise"),
                   help="train, patch models: folder caching learned dictionaries (one per "
                        "training folder, patch count and iterations)")
    p.add_argument("--grad-checkpoint", action="store_true",
                   help="train, pixel and patch games: recompute each solver iteration in the "
                        "backward pass instead of storing it (activation checkpointing: a "
                        "fraction of the memory, about one more forward pass of time; the "
                        "non-local group game holds 46 GB at batch 32 without it). The "
                        "function and the weights do not change")
    p.add_argument("--iters", type=int, default=None, help="override the model's iterations")
    p.add_argument("--nl-distance", choices=("squared", "norm"), default=None,
                   help="non-local pixel models: softmax of the squared patch distance (the "
                        "default) or of its norm (the paper's text)")
    p.add_argument("--nl-k", type=int, default=None,
                   help="non-local pixel models: neighbours per pixel (default 16; the search "
                        "window's size squared minus one makes the graph dense)")
    p.add_argument("--nl-window", type=int, default=None,
                   help="non-local pixel models: odd side of the search window (default 11)")
    p.add_argument("--nl-self", action=argparse.BooleanOptionalAction, default=None,
                   help="non-local pixel models: count the pixel itself in the softmax of its "
                        "neighbours' weights, so they sum to less than 1 where it stands out; "
                        "non-local group models: learn the patch's own weight in its group "
                        "(default off; --init-from keeps the file's choice)")
    p.add_argument("--group-prox", action=argparse.BooleanOptionalAction, default=None,
                   help="non-local group models: group soft-thresholding after each gradient "
                        "step (the GroupSC code's update) instead of the smoothed group "
                        "gradient (default off; --init-from keeps the file's choice)")
    p.add_argument("--center-patches", dest="center", action=argparse.BooleanOptionalAction,
                   default=None,
                   help="patch models: code each patch with its mean removed and add the mean "
                        "back in the output (the GroupSC code's patches; default off; "
                        "--init-from keeps the file's choice)")
    p.add_argument("--nl-blend", action=argparse.BooleanOptionalAction, default=None,
                   help="non-local pixel models: blend each rebuilt graph with the previous one "
                        "at a learned weight (default off; --init-from keeps the file's choice)")
    p.add_argument("--nl-filter", type=int, default=None,
                   help="non-local pixel models: odd side of a learned linear filter applied to "
                        "the estimate before each graph build's patch distances, starting at "
                        "the identity (an extension, not in the paper; default 0, off; "
                        "--init-from keeps the file's choice)")
    p.add_argument("--nl-update-every", type=int, default=None,
                   help="non-local pixel models: rebuild the graph on the current estimate "
                        "every this many iterations (default 12, the paper's 1/12; the several-"
                        "kappa models learn one kappa per rebuild; --init-from keeps the file's "
                        "choice)")
    p.add_argument("--loss", choices=("mse", "psnr"), default="mse",
                   help="train: 'mse' (paper eq. 4) or 'psnr' (geometric-mean MSE of the crops, "
                        "i.e. their mean PSNR)")
    p.add_argument("--loss-weight", choices=("none", "coverage"), default="none",
                   help="train, patch models: 'coverage' weights each pixel's squared error by "
                        "its squared patch coverage relative to the crop's largest (the authors' "
                        "GroupSC training loss: a crop's border pixels count less)")
    p.add_argument("--relative-lr", action=argparse.BooleanOptionalAction, default=False,
                   help="train: per-parameter learning rates relative to their scale "
                        "(stereo_tv.denoising._task.relative_lr_groups)")
    # outputs
    p.add_argument("--export", default=None, help="train: write the weight file here at the end")
    p.add_argument("--out", default=None, help="export: weight file; run: output image")
    p.add_argument("--input", default=None, help="run: noisy input image")
    p.add_argument("--json", default=None, help="eval: write the results as JSON here")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="export: which checkpoint of --run-dir")
    add_engine_args(p)
    p.set_defaults(name=None, workers=0, best_metric=None)
    return p


#: the overrides that only the non-local pixel models take
_NL_OVERRIDES = ("nl_distance", "nl_k", "nl_window", "nl_self", "nl_blend", "nl_filter",
                 "nl_update_every")
#: the overrides that the non-local group (patch) models take
_GROUP_OVERRIDES = ("nl_self", "group_prox")
#: the overrides that every patch model takes
_PATCH_OVERRIDES = ("center",)
#: the overrides that only some models take
_MODEL_OVERRIDES = (*_NL_OVERRIDES, "group_prox", *_PATCH_OVERRIDES)
#: build overrides taken from the command line (and recorded in runs and weight files)
_OVERRIDES = ("iters", *_MODEL_OVERRIDES)
#: which models a model-specific override is for (named in the refusal of another model)
_OVERRIDE_SCOPE = {**{k: "the non-local pixel models (nltv*, nllap*)" for k in _NL_OVERRIDES},
                   "nl_self": "the non-local models (nltv*, nllap*, nlgroup*)",
                   "group_prox": "the non-local group models (nlgroup*)",
                   "center": "the patch models (sc*, nlgroup*)"}


def _is_nonlocal(model: str | None) -> bool:
    """Whether ``model`` is a non-local pixel game (nltv*, nllap*)."""
    return PIXEL_MODELS.get(model, {}).get("prior", "").startswith("nl")


def _is_group(model: str | None) -> bool:
    """Whether ``model`` is a non-local group patch game (nlgroup*)."""
    return "group" in PATCH_MODELS.get(model, {}).get("priors", ())


def _model_overrides(model: str | None) -> tuple[str, ...]:
    """The model-specific overrides that ``model`` takes (and inherits by ``--init-from``)."""
    if _is_nonlocal(model):
        return _NL_OVERRIDES
    if _is_group(model):
        return (*_GROUP_OVERRIDES, *_PATCH_OVERRIDES)
    return _PATCH_OVERRIDES if model in PATCH_MODELS else ()


def _overrides(args) -> dict:
    """Build overrides set in ``args`` (a namespace or a run's recorded config dict)."""
    get = args.get if isinstance(args, dict) else lambda k: getattr(args, k, None)
    over = {k: get(k) for k in _OVERRIDES if get(k) is not None}
    if "iters" in over and over["iters"] < 1:
        raise UserError(f"--iters must be >= 1, got {over['iters']}")
    model = get("model")
    allowed = _model_overrides(model)
    for key in _MODEL_OVERRIDES:
        if key in over and key not in allowed:
            flag = "--center-patches" if key == "center" else "--" + key.replace("_", "-")
            raise UserError(f"{flag} is for {_OVERRIDE_SCOPE[key]}, not '{model}'")
    window = over.get("nl_window", PIXEL_MODELS.get(get("model"), {}).get("nl_window", 0))
    if "nl_window" in over and (window < 3 or window % 2 != 1):
        raise UserError(f"--nl-window must be odd and >= 3, got {window}")
    side = over.get("nl_filter", 0)
    if side < 0 or (side and side % 2 == 0):
        raise UserError(f"--nl-filter must be 0 (off) or odd, got {side}")
    if over.get("nl_update_every", 1) < 1:
        raise UserError(f"--nl-update-every must be >= 1, got {over['nl_update_every']}")
    if "nl_k" in over and not 1 <= over["nl_k"] <= window * window - 1:
        raise UserError(f"--nl-k must be in 1..{window * window - 1} (the other pixels of the "
                        f"{window}x{window} window), got {over['nl_k']}")
    return over


def _inherit_graph(args: argparse.Namespace, blob: dict) -> None:
    """``--init-from``: the model-specific overrides (:func:`_model_overrides`) not given take
    the file's values, so training continues on the graph and patches the weights were trained
    on (and the run records them for export and resume). For a non-local pixel game these are
    every ``_NL_OVERRIDES`` graph setting (an explicit ``--nl-distance`` other than the file's
    converts its kappa and self distance, see ``convert_nl_distance``; before session 13 a
    file's distance was not inherited: a norm file without the flag was converted to the squared
    distance); for a patch game ``_PATCH_OVERRIDES``, and for a non-local group game
    ``_GROUP_OVERRIDES`` too."""
    for key in _model_overrides(args.model):
        if getattr(args, key) is None and key in blob.get("config", {}):
            setattr(args, key, blob["config"][key])


def _built_with(overrides: dict) -> str:
    """`` (nl_self=True, ...)``: a model's build overrides for a message, or ``""``."""
    shown = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()) if k in _OVERRIDES)
    return f" ({shown})" if shown else ""


def _need(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) is None:
            raise UserError(f"{args.command} needs --{name.replace('_', '-')}")


def _check_model(name: str) -> None:
    try:
        model_family(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None


# ----------------------------------------------------------------------------- train / export
def train(args: argparse.Namespace) -> int:
    from stereo_tv.denoising._init import (
        convert_nl_distance,
        jitter_weights,
        rescale_to_sigma,
        tune_init,
    )
    from stereo_tv.denoising._task import DenoiseTask
    from stereo_tv.train import (
        Engine,
        EngineConfig,
        check_resumed,
        resumed_config,
        seed_everything,
    )

    _need(args, "sigma")
    _check_model(args.model)
    if model_family(args.model) == "classical":
        raise UserError(f"'{args.model}' is a classical method, it has nothing to train")
    args.data = args.data or f"{DATA}/Train400"
    args.val = args.val or f"{DATA}/Set12"
    if args.val_stride < 1:
        raise UserError(f"--val-stride must be >= 1, got {args.val_stride}")
    if args.loss_weight == "coverage" and model_family(args.model) != "patch":
        raise UserError(f"--loss-weight coverage is for the patch models, not '{args.model}'")
    if args.grad_checkpoint and model_family(args.model) not in ("pixel", "patch"):
        raise UserError(f"--grad-checkpoint is for the pixel and patch games, not "
                        f"'{args.model}'")
    val_name = Path(args.val).name.lower()
    args.name = args.name or f"denoise/{args.model}_sigma{args.sigma:g}"
    args.best_metric = args.best_metric or f"{val_name}/psnr"
    EngineConfig.from_args(args)             # a bad engine option fails before any slow set-up
    source = None                            # (model, blob) of --init-from, read once
    if args.resume is None and args.init_from:
        source = load_weights(args.init_from)
        _inherit_graph(args, source[1])
    elif args.init_from:                     # the same command with --resume: the same graph
        _inherit_graph(args, read_weights(args.init_from))
    resumed = resumed_config(args.run_dir, args.name, args.resume)
    if resumed is not None:          # the model is rebuilt from today's flags: they must match
        check_resumed(*resumed, {k: getattr(args, k)
                                 for k in ("model", "sigma", *_OVERRIDES)})
    seed_everything(args.seed)
    overrides = _overrides(args)
    init_info = {}
    if model_family(args.model) == "patch" and args.resume is None and not args.init_from:
        # Appendix B: the dictionary starts from unsupervised dictionary learning on the
        # training images (scikit-learn here), cached per training folder and settings.
        print(f"initial dictionary: learned on {args.data} (cache {args.dict_cache})", flush=True)
        overrides["dictionary"] = initial_dictionary(args.data, cache=args.dict_cache,
                                                     n=args.dict_patches,
                                                     iters=args.dict_iters)
        init_info["dictionary"] = {"learned_on": str(args.data), "patches": args.dict_patches,
                                   "iters": args.dict_iters}
    model = build_model(args.model, args.sigma, **overrides)
    if args.grad_checkpoint:                       # memory only: not a build override
        model.checkpoint = True
        print("activation checkpointing: each solver iteration recomputed in the backward pass",
              flush=True)
    train_set = TrainCrops(args.data, args.sigma, crop=args.crop,
                           crops_per_image=args.crops_per_image, limit=args.train_limit)
    if source is not None:
        src, blob = source
        try:
            init_info.update(rescale_to_sigma(model, src, blob["sigma"], args.sigma))
        except RuntimeError:
            raise UserError(f"--init-from {args.init_from} holds a '{blob['model']}' model"
                            f"{_built_with(blob.get('config', {}))}, whose parameters do not fit "
                            f"'{args.model}'{_built_with(_overrides(args))}") from None
        if getattr(src, "graph", None) == "nonlocal":      # a pixel game with another distance
            converted = convert_nl_distance(model, src.nl_distance, train_set.images,
                                            train_set.names, args.sigma)
            if converted:
                init_info["nl_distance"] = converted
    elif args.resume is None and args.tune_init and model_family(args.model) == "pixel":
        crop = 64 if model.graph == "nonlocal" else None  # non-local solves are slow on a CPU
        init_info.update(tune_init(model, train_set.images[:8], args.sigma, crop=crop,
                                   rounds=2 if crop else 3))
    if args.resume is None and args.init_jitter > 0:
        init_info["jitter"] = {"scale": args.init_jitter, "seed": args.seed,
                               "entries": jitter_weights(model, args.init_jitter, args.seed)}
    if init_info:
        print(f"initialization: {init_info}", flush=True)
    val_set = NoisyImages(args.val, args.sigma, limit=args.val_limit, every=args.val_stride)
    task = DenoiseTask(args.loss, relative_lr=args.relative_lr, weight=args.loss_weight)
    engine = Engine.from_args(model, task, train_set, {val_name: val_set}, args)
    run_dir = Path(engine.run_dir)
    if engine.env.is_main and (init_info or source is not None):
        run_dir.mkdir(parents=True, exist_ok=True)
        if init_info:
            (run_dir / "init.yaml").write_text(yaml.safe_dump(init_info))
        if source is not None:
            # the start's training record as it is now: an export may overwrite the file later
            (run_dir / WARM_START).write_text(json.dumps(source[1].get("train") or {}, indent=1))
    engine.run()
    if args.export and not args.eval_only:
        export_run(run_dir, Path(args.export), "best")
    return 0


#: a run's copy of its --init-from file's training record, written when the run starts
WARM_START = "warm_start.json"


def _same_dir(a: str | None, b: Path) -> bool:
    return a is not None and Path(a).resolve() == b.resolve()


def _run_seconds(run_dir: Path) -> float | None:
    """Training wall time of a run: sum over its train events' ``seconds`` (if logged)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    total, seen = 0.0, False
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("event") == "train" and "seconds" in rec:
            total += float(rec["seconds"])
            seen = True
    return total if seen else None


def export_run(run_dir: Path, out: Path, which: str = "best",
               device: torch.device | str = "cpu", val_dir: str | None = None) -> dict:
    """Write the weight file of a training run (its config.yaml and checkpoints/*.pt).

    The validation score is computed on ``device``, on ``val_dir`` (default: the run's
    validation images, every ``--val-stride``-th, all of them up to that); the self-check PSNR
    always on the CPU.
    """
    from stereo_tv.train import load_checkpoint

    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"not a training run directory (no config.yaml): {run_dir}")
    cfg = yaml.safe_load(cfg_path.read_text())
    ckpt_path = run_dir / "checkpoints" / f"{which}.pt"
    if not ckpt_path.is_file() and which == "best":
        ckpt_path = run_dir / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(ckpt_path)
    overrides = _overrides(cfg)
    model = build_model(cfg["model"], cfg["sigma"], **overrides)
    model.load_state_dict(ckpt["model"])
    stride = 1 if val_dir else cfg.get("val_stride") or 1
    val_dir = val_dir or cfg["val"]
    val = NoisyImages(val_dir, cfg["sigma"], every=stride)
    scores = evaluate(model.to(device), val, device)["mean"]
    model.cpu()
    val_name = Path(val_dir).name.lower()
    argv = (run_dir / "argv.txt").read_text().strip() if (run_dir / "argv.txt").is_file() else ""
    init_path = run_dir / "init.yaml"
    train_info = {"command": argv, "epochs": int(ckpt.get("epoch", 0)),
                  "steps": int(ckpt.get("step", 0)), "checkpoint": ckpt_path.name,
                  "seconds": _run_seconds(run_dir), "run_dir": str(run_dir),
                  "init": yaml.safe_load(init_path.read_text()) if init_path.is_file() else None}
    source, first = cfg.get("init_from"), None
    if (run_dir / WARM_START).is_file():          # the start's record, kept when training began
        try:
            first = json.loads((run_dir / WARM_START).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{run_dir / WARM_START} is corrupt ({exc})") from None
    elif source and Path(source).is_file():       # runs from before session 15: the file now
        first = read_weights(source).get("train") or {}
        # ... which may since hold an export of this very run: go back to the run's own start
        while first.get("warm_start") and _same_dir(first.get("run_dir"), run_dir):
            first = first["warm_start"]
    if first is not None:
        # warm start: keep the training record of the weights this run started from (chained)
        train_info["warm_start"] = {"path": str(source), **first}
        train_info["seconds_total"] = (train_info["seconds"] or 0.0) + (
            first.get("seconds_total") or first.get("seconds") or 0.0)
    blob = save_weights(out, model, cfg["model"], cfg["sigma"], config=overrides,
                        val={f"{val_name}/psnr": scores["psnr"],
                             f"{val_name}/ssim": scores["ssim"]},
                        train=train_info)
    print(f"wrote {out}: {cfg['model']} sigma={cfg['sigma']:g} {val_name} "
          f"psnr={scores['psnr']:.3f} ssim={scores['ssim']:.4f} "
          f"check psnr={blob['check']['psnr']:.3f} ({out.stat().st_size} bytes)")
    return blob


def export(args: argparse.Namespace) -> int:
    _need(args, "run_dir", "out")
    export_run(Path(args.run_dir), Path(args.out), args.checkpoint, pick_device(args.device),
               args.val)
    return 0


# ----------------------------------------------------------------------------- eval / run
def _load(args: argparse.Namespace):
    if args.weights:
        model, blob = load_weights(args.weights)
        if args.sigma is not None and float(args.sigma) != blob["sigma"]:
            raise UserError(f"weights {args.weights} are for sigma={blob['sigma']:g}, "
                            f"not {args.sigma:g}")
        return model
    _check_model(args.model)
    if args.untrained:
        return build_model(args.model, args.sigma, **_overrides(args))
    return load_denoiser(args.model, args.sigma)


@torch.inference_mode()
def eval_(args: argparse.Namespace) -> int:
    _need(args, "sigma", "data")
    model = _load(args)
    dataset = NoisyImages(args.data, args.sigma, every=args.every, offset=args.offset)
    res = evaluate(model, dataset, pick_device(args.device), verbose=True)
    m = res["mean"]
    print(f"{'mean':>16s}  psnr {m['psnr']:7.3f}  ssim {m['ssim']:.4f}  {m['seconds']:7.3f} s")
    if args.json:
        res["model"] = args.weights or args.model
        res["sigma"] = args.sigma
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(res, indent=1))
    return 0


def run(args: argparse.Namespace) -> int:
    _need(args, "input", "sigma", "out")
    img = read_image(args.input)
    model = _load(args).to(pick_device(args.device))
    out = apply_denoiser(model, img)
    with atomic_path(args.out) as tmp:
        write_image(tmp, out)
    print(f"wrote {args.out} ({img.shape[1]}x{img.shape[0]}"
          f"{'' if img.ndim == 2 else f'x{img.shape[2]}'})")
    return 0


def weights(args: argparse.Namespace) -> int:
    """Markdown table of weight files: scores at export, training stages and budget."""
    files = [Path(f) for f in args.weights] if args.weights else sorted(
        SHIPPED_DIR.glob("*.pt"))
    if not files:
        raise UserError(f"no weight files in {SHIPPED_DIR}")
    print("| model | sigma | Set12 PSNR | Set12 SSIM | check PSNR | epochs per stage (first to "
          "last) | CPU train min | GPU train min | bytes | last run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    blobs = sorted(((read_weights(f), f) for f in files),
                   key=lambda bf: (bf[0]["model"], bf[0]["sigma"]))
    for blob, f in blobs:
        val, t = blob.get("val", {}), training_summary(blob)
        score = {k.split("/")[-1]: v for k, v in val.items()}
        names = {k.split("/")[0] for k in val} - {"set12"}
        where = f" ({', '.join(sorted(names))})" if names else ""   # not scored on Set12
        print(f"| {blob['model']} | {blob['sigma']:g} | {score.get('psnr', float('nan')):.2f}"
              f"{where} | {score.get('ssim', float('nan')):.4f}{where} | "
              f"{blob['check']['psnr']:.3f} | "
              f"{' + '.join(map(str, t['epochs'])) or '-'} | {t['cpu_minutes']:.0f} | "
              f"{t['gpu_minutes']:.1f} | {f.stat().st_size} | `{t['last_run']}` |")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.command != "weights" and args.weights is not None:
        if len(args.weights) > 1:
            raise UserError(f"{args.command} takes one --weights file")
        args.weights = args.weights[0]
    verbs = {"train": train, "export": export, "eval": eval_, "run": run, "weights": weights}
    return verbs[args.command](args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
