"""Smoke training through the engine (seconds), export of the weight file, eval with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import assert_user_error

from stereo_tv.denoising import load_weights, write_image

from .test_cli import REPO, _cli


def _fake_data(root):
    rng = np.random.default_rng(0)
    train, val = root / "Train400", root / "Set12"
    train.mkdir()
    val.mkdir()
    i, j = np.mgrid[0:40, 0:36]
    for k in range(4):
        img = 0.3 + 0.4 * ((i // (6 + k)) % 2) + 0.05 * rng.standard_normal((40, 36))
        write_image(train / f"test_{k + 1:03d}.png", img.clip(0, 1))
    for k in range(2):
        write_image(val / f"{k + 1:02d}.png", (0.2 + 0.6 * ((j // 9) % 2) * 1.0)[:25, :29])
    return train, val


def _patch_smoke(tmp_path, train, val):
    """One smoke epoch of a patch model, its dictionary learned on a few patches (cached)."""
    return ("--config", str(REPO / "configs" / "denoise" / "smoke.yaml"), "--data", str(train),
            "--val", str(val), "--epochs", "1", "--dict-patches", "500", "--dict-iters", "5",
            "--dict-cache", str(tmp_path / "dicts"))


def test_smoke_training_lowers_the_loss_and_exports(tmp_path):
    train, val = _fake_data(tmp_path)
    run_dir = tmp_path / "run"
    out = tmp_path / "w.pt"
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25",
               "--config", str(REPO / "configs" / "denoise" / "smoke.yaml"),
               "--data", str(train), "--val", str(val), "--run-dir", str(run_dir),
               "--epochs", "4", "--export", str(out))
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [e["train/loss"] for e in events if e["event"] == "train"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert (run_dir / "checkpoints" / "best.pt").is_file()

    # --resume rebuilds the model from today's flags: another --sigma is a one-line error
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "15",
               "--config", str(REPO / "configs" / "denoise" / "smoke.yaml"),
               "--data", str(train), "--val", str(val), "--run-dir", str(run_dir),
               "--epochs", "5", "--resume")
    assert_user_error(res, "--resume", "--sigma 25.0 (now 15.0)")

    model, meta = load_weights(out)
    assert meta["model"] == "tv-asym-eg" and meta["sigma"] == 25.0
    assert meta["config"] == {"iters": 4} and "set12/psnr" in meta["val"]
    assert meta["train"]["epochs"] >= 1 and meta["train"]["seconds"] > 0
    res = _cli("eval", "--weights", str(out), "--sigma", "25", "--data", str(val))
    assert res.returncode == 0, res.stderr
    mean = float(res.stdout.strip().splitlines()[-1].split()[2])
    assert abs(mean - meta["val"]["set12/psnr"]) < 1e-3
    # export --val scores the file on other images (a run validated on a held-out split ships
    # with its Set12 score); the weights table names a score that is not Set12's
    other = tmp_path / "Val2"
    other.mkdir()
    write_image(other / "a.png", np.linspace(0, 1, 30 * 31).reshape(30, 31))
    res = _cli("export", "--run-dir", str(run_dir), "--out", str(tmp_path / "w_other.pt"),
               "--val", str(other))
    assert res.returncode == 0, res.stderr
    assert set(load_weights(tmp_path / "w_other.pt")[1]["val"]) == {"val2/psnr", "val2/ssim"}
    res = _cli("weights", "--weights", str(tmp_path / "w_other.pt"), str(out))
    assert res.returncode == 0, res.stderr
    rows = [r for r in res.stdout.splitlines() if r.startswith("| tv-asym-eg")]
    assert len(rows) == 2 and sum("(val2)" in r for r in rows) == 1
    # --val-stride validates on every N-th image, and the export scores the same ones
    two = tmp_path / "Set12b"               # two different images: the stride keeps the first
    two.mkdir()
    (two / "01.png").write_bytes((val / "01.png").read_bytes())
    (two / "02.png").write_bytes((other / "a.png").read_bytes())
    smoke = ("--config", str(REPO / "configs" / "denoise" / "smoke.yaml"), "--data", str(train),
             "--val", str(two), "--epochs", "1")
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", *smoke, "--val-stride", "2",
               "--run-dir", str(tmp_path / "stride"), "--export", str(tmp_path / "w_s.pt"))
    assert res.returncode == 0, res.stderr
    first = tmp_path / "first"
    first.mkdir()
    (first / "01.png").write_bytes((val / "01.png").read_bytes())
    res = _cli("eval", "--weights", str(tmp_path / "w_s.pt"), "--sigma", "25", "--data",
               str(first))
    mean = float(res.stdout.strip().splitlines()[-1].split()[2])
    assert abs(mean - load_weights(tmp_path / "w_s.pt")[1]["val"]["set12b/psnr"]) < 1e-3
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", *smoke, "--val-stride", "0",
               "--run-dir", str(tmp_path / "bad_stride"))
    assert_user_error(res, "--val-stride must be >= 1")
    assert not (tmp_path / "bad_stride").exists()
    # a second stage warm-started from the first keeps the first's record
    out2 = tmp_path / "w2.pt"
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25",
               "--config", str(REPO / "configs" / "denoise" / "smoke.yaml"),
               "--data", str(train), "--val", str(val), "--run-dir", str(tmp_path / "run2"),
               "--epochs", "1", "--init-from", str(out), "--init-jitter", "0.2",
               "--export", str(out2))
    assert res.returncode == 0, res.stderr
    train2 = load_weights(out2)[1]["train"]
    assert train2["warm_start"]["path"] == str(out)
    assert train2["warm_start"]["command"] == meta["train"]["command"]
    assert train2["init"]["jitter"]["scale"] == 0.2
    assert train2["seconds_total"] > train2["seconds"]
    # exported over the file it started from, twice: the chain still ends at the first stage
    # (the run keeps the start's record), also for a run without that copy (older runs)
    for drop_copy in (False, False, True):
        if drop_copy:
            (tmp_path / "run2" / "warm_start.json").unlink()
        res = _cli("export", "--run-dir", str(tmp_path / "run2"), "--out", str(out))
        assert res.returncode == 0, res.stderr
        chained = load_weights(out)[1]["train"]
        assert chained["warm_start"]["command"] == meta["train"]["command"]
        assert "warm_start" not in chained["warm_start"]
        assert chained["seconds_total"] == pytest.approx(train2["seconds_total"])
    (tmp_path / "run2" / "warm_start.json").write_text("{bad")
    before = out.read_bytes()
    res = _cli("export", "--run-dir", str(tmp_path / "run2"), "--out", str(out))
    assert_user_error(res, "warm_start.json is corrupt")
    assert out.read_bytes() == before
    # weights of another model cannot start this one: a one-line error
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25",
               "--config", str(REPO / "configs" / "denoise" / "smoke.yaml"),
               "--data", str(train), "--val", str(val), "--run-dir", str(tmp_path / "run3"),
               "--epochs", "1", "--init-from", str(out))
    assert_user_error(res, "--init-from", "'tv-asym-eg'", "'nltv-eg'")
    assert not (tmp_path / "run3" / "checkpoints").exists()


def test_patch_model_starts_from_a_learned_dictionary(tmp_path):
    from stereo_tv.denoising import build_model, initial_dictionary

    train, val = _fake_data(tmp_path)
    run_dir, cache = tmp_path / "run", tmp_path / "dicts"
    res = _cli("train", "--model", "sc", "--sigma", "25",
               "--config", str(REPO / "configs" / "denoise" / "smoke.yaml"),
               "--data", str(train), "--val", str(val), "--run-dir", str(run_dir),
               "--epochs", "1", "--iters", "2", "--dict-patches", "600", "--dict-iters", "3",
               "--dict-cache", str(cache))
    assert res.returncode == 0, res.stderr
    files = list(cache.rglob("*.npy"))
    assert [f.name for f in files] == ["dict_Train400_9x9_256_n600_it3.npy"]
    init = (run_dir / "init.yaml").read_text()
    assert "learned_on" in init and "patches: 600" in init
    # the run's first weights are the learned dictionary, not the random default
    learned = initial_dictionary(train, cache=cache, n=600, iters=3)       # the cached file
    unlearned = build_model("sc", 25.0, iters=2)
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    init_model = build_model("sc", 25.0, iters=2, dictionary=learned)
    key = next(k for k in ckpt["model"] if ckpt["model"][k].shape == (81, 256))
    start = dict(init_model.state_dict())[key]
    trained = ckpt["model"][key]
    assert (trained - start).abs().max() < (trained - unlearned.state_dict()[key]).abs().max()


def test_nl_distance_is_recorded_in_the_run_and_the_weights(tmp_path):
    """``--nl-distance norm`` trains the paper's distance form; the export rebuilds it, and a
    resume or a model without a non-local graph with another value is a one-line error."""
    train, val = _fake_data(tmp_path)
    run_dir, out = tmp_path / "run", tmp_path / "w.pt"
    smoke = ("--config", str(REPO / "configs" / "denoise" / "smoke.yaml"), "--data", str(train),
             "--val", str(val), "--epochs", "1")
    squared = tmp_path / "squared.pt"
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke,
               "--run-dir", str(tmp_path / "run0"), "--export", str(squared))
    assert res.returncode == 0, res.stderr
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke, "--run-dir", str(run_dir),
               "--nl-distance", "norm", "--init-from", str(squared), "--export", str(out))
    assert res.returncode == 0, res.stderr
    model, meta = load_weights(out)
    assert meta["config"] == {"iters": 4, "nl_distance": "norm"}
    assert model.nl_distance == "norm"
    # the squared weights' kappa was converted (convert_nl_distance), and the record says so
    conv = meta["train"]["init"]["nl_distance"]
    assert conv["from"] == "squared" and conv["kappa_factor"] > 0
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke, "--run-dir", str(run_dir),
               "--resume")
    assert_user_error(res, "--resume", "--nl-distance norm (now None)")
    # --init-from a norm file without --nl-distance keeps its distance (no conversion), and the
    # same command resumes
    again = ("train", "--model", "nltv-eg", "--sigma", "25", *smoke,
             "--run-dir", str(tmp_path / "run3"), "--init-from", str(out))
    res = _cli(*again, "--export", str(tmp_path / "w3.pt"))
    assert res.returncode == 0, res.stderr
    model, meta = load_weights(tmp_path / "w3.pt")
    assert model.nl_distance == "norm" and "nl_distance" not in meta["train"]["init"]
    res = _cli(*again, "--resume", "--epochs", "2")
    assert res.returncode == 0, res.stderr
    # --nl-self with a converted distance: the pixel starts beyond the source's noise distance,
    # in the source's form, and convert_nl_distance shifts it with the neighbours (+ D0^2)
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke, "--nl-self",
               "--run-dir", str(tmp_path / "run4"), "--nl-distance", "norm",
               "--init-from", str(squared), "--export", str(tmp_path / "w4.pt"))
    assert res.returncode == 0, res.stderr
    init = load_weights(tmp_path / "w4.pt")[1]["train"]["init"]
    kappa = load_weights(squared)[0].kappa[0].detach().double()
    noise = 2 * (25 / 255) ** 2 * float(kappa.square().sum())
    assert init["self_dist_start"] == pytest.approx(noise + 1.5, rel=1e-5)
    conv = init["nl_distance"]
    assert conv["self_dist"] == pytest.approx(noise + 1.5 + conv["median_distance"] ** 2,
                                              rel=1e-5)
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", *smoke,
               "--run-dir", str(tmp_path / "run2"), "--nl-distance", "norm")
    assert_user_error(res, "--nl-distance", "'tv-asym-eg'")
    assert not (tmp_path / "run2").exists()


def test_nl_graph_size_is_recorded_in_the_run_and_the_weights(tmp_path):
    """``--nl-k`` / ``--nl-window`` / ``--nl-self`` / ``--nl-blend`` / ``--nl-filter`` /
    ``--nl-update-every`` set the non-local graph; the export rebuilds it, a resume with other
    values and values that do not fit are one-line errors with no run directory, and
    ``--init-from`` a file keeps the graph settings not given on the command line."""
    train, val = _fake_data(tmp_path)
    run_dir, out = tmp_path / "run", tmp_path / "w.pt"
    smoke = ("--config", str(REPO / "configs" / "denoise" / "smoke.yaml"), "--data", str(train),
             "--val", str(val), "--epochs", "1")
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke, "--run-dir", str(run_dir),
               "--nl-k", "8", "--nl-window", "3", "--nl-self", "--nl-blend", "--nl-filter", "3",
               "--nl-update-every", "2", "--export", str(out))
    assert res.returncode == 0, res.stderr
    model, meta = load_weights(out)
    assert meta["config"] == {"iters": 4, "nl_k": 8, "nl_window": 3, "nl_self": True,
                              "nl_blend": True, "nl_filter": 3, "nl_update_every": 2}
    assert (model.nl_k, model.nl_window, model.nl_self, model.nl_blend, model.nl_filter,
            model.nl_update_every) == (8, 3, True, True, 3, 2)
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke, "--run-dir", str(run_dir),
               "--resume", "--nl-k", "8")
    assert_user_error(res, "--resume", "--nl-window 3 (now None)")
    # --init-from that file without the flags continues on its graph, and records it
    warm = tmp_path / "warm.pt"
    res = _cli("train", "--model", "nltv-eg-kappas", "--sigma", "25", *smoke,
               "--run-dir", str(tmp_path / "warm"), "--init-from", str(out), "--nl-k", "5",
               "--export", str(warm))
    assert res.returncode == 0, res.stderr
    kappas, meta = load_weights(warm)
    assert meta["config"] == {"iters": 4, "nl_k": 5, "nl_window": 3, "nl_self": True,
                              "nl_blend": True, "nl_filter": 3, "nl_update_every": 2}
    assert kappas.kappa.shape == (2, 9 * 9)              # one kappa per rebuild: 4 / 2
    res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "cold"), "--init-from", str(out), "--no-nl-self", "--no-nl-blend",
               "--nl-filter", "0", "--export", str(warm))
    assert res.returncode == 0, res.stderr
    cold = load_weights(warm)[0]
    assert cold.nl_self is False and cold.blend is None and cold.graph_filter is None
    for flags, needle in ((("--nl-window", "4"), "--nl-window must be odd"),
                          (("--nl-k", "9", "--nl-window", "3"), "--nl-k must be in 1..8"),
                          (("--nl-k", "200"), "--nl-k must be in 1..120"),
                          (("--nl-k", "0"), "--nl-k must be in 1..120"),
                          (("--nl-window", "0"), "--nl-window must be odd"),
                          (("--iters", "0"), "--iters must be >= 1"),
                          (("--nl-filter", "2"), "--nl-filter must be 0 (off) or odd"),
                          (("--nl-filter", "-1"), "--nl-filter must be 0 (off) or odd"),
                          (("--nl-update-every", "0"), "--nl-update-every must be >= 1")):
        bad = tmp_path / "bad"
        res = _cli("train", "--model", "nltv-eg", "--sigma", "25", *smoke,
                   "--run-dir", str(bad), *flags)
        assert_user_error(res, needle)
        assert not bad.exists()
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", *smoke,
               "--run-dir", str(tmp_path / "run2"), "--nl-k", "8")
    assert_user_error(res, "--nl-k", "'tv-asym-eg'")
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", *smoke,
               "--run-dir", str(tmp_path / "run2"), "--nl-self")
    assert_user_error(res, "--nl-self", "'tv-asym-eg'")
    for model, flag in (("sc", "--group-prox"), ("nltv-eg", "--group-prox"), ("sc", "--nl-self"),
                        ("nlgroup", "--nl-blend"), ("tv-asym-eg", "--nl-filter 3"),
                        ("sc", "--nl-update-every 4")):
        res = _cli("train", "--model", model, "--sigma", "25", *smoke,
                   "--run-dir", str(tmp_path / "run2"), *flag.split())
        assert_user_error(res, flag.split()[0], f"'{model}'")
    assert not (tmp_path / "run2").exists()


def test_group_prox_game_from_an_sc_file_records_its_flags(tmp_path):
    """``--nl-self --group-prox`` on a non-local group game are build overrides: recorded in the
    weight file (which rebuilds the game), and inherited by ``--init-from`` that file."""
    train, val = _fake_data(tmp_path)
    smoke = _patch_smoke(tmp_path, train, val)
    sc = tmp_path / "sc.pt"
    res = _cli("train", "--model", "sc", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "sc"), "--export", str(sc))
    assert res.returncode == 0, res.stderr
    out = tmp_path / "g.pt"
    res = _cli("train", "--model", "nlgroup", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "g"), "--init-from", str(sc), "--nl-self", "--group-prox",
               "--export", str(out))
    assert res.returncode == 0, res.stderr
    assert "self_dist_start" in res.stdout
    model, meta = load_weights(out)
    assert meta["config"]["nl_self"] is True and meta["config"]["group_prox"] is True
    assert model.group_prox and model.self_dist is not None and model.log_group_alpha is None
    again = tmp_path / "g2.pt"
    res = _cli("train", "--model", "nlgroup", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "g2"), "--init-from", str(out), "--export", str(again))
    assert res.returncode == 0, res.stderr
    assert load_weights(again)[0].group_prox
    # the same model name built with other options: the message names both builds
    res = _cli("train", "--model", "nlgroup", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "g3"), "--init-from", str(out), "--no-group-prox")
    assert_user_error(res, "model (group_prox=True, iters=4, nl_self=True)",
                      "'nlgroup' (group_prox=False, iters=4, nl_self=True)")
    assert not (tmp_path / "g3").exists()


def test_a_bad_engine_option_fails_before_the_slow_set_up(tmp_path):
    # the engine's options are checked before --tune-init's search (and before any run directory)
    train, val = _fake_data(tmp_path)
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", "--data", str(train),
               "--val", str(val), "--run-dir", str(tmp_path / "run"), "--ema", "1")
    assert_user_error(res, "--ema must be in [0, 1)")
    assert "initialization" not in res.stdout and not (tmp_path / "run").exists()


@pytest.mark.parametrize("model", ["nltv-eg", "sc-tv"])
def test_grad_checkpoint_trains_the_same_weights(tmp_path, model):
    """--grad-checkpoint recomputes the solver's iterations in the backward pass: the same
    steps, so the same trained weights (to rounding), and nothing recorded in the weights."""
    train, val = _fake_data(tmp_path)
    states, losses = [], []
    for flag in ([], ["--grad-checkpoint"]):
        run_dir = tmp_path / f"run{len(flag)}"
        res = _cli("train", "--model", model, "--sigma", "25",
                   "--config", str(REPO / "configs" / "denoise" / "smoke.yaml"),
                   "--data", str(train), "--val", str(val), "--run-dir", str(run_dir),
                   "--epochs", "2", "--iters", "3", "--no-tune-init", "--dict-patches", "600",
                   "--dict-iters", "3", "--dict-cache", str(tmp_path / "dicts"),
                   "--export", str(run_dir / "w.pt"), *flag)
        assert res.returncode == 0, res.stderr
        assert ("activation checkpointing" in res.stdout) == bool(flag)
        states.append(torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"])
        events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        losses.append([e["train/loss"] for e in events if e["event"] == "train"])
        _, meta = load_weights(run_dir / "w.pt")
        assert "checkpoint" not in meta["config"]
    assert len(losses[0]) == 2 and losses[0][0] != losses[0][1]      # the weights moved
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert states[0].keys() == states[1].keys()
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value, rtol=1e-4, atol=1e-6)


def test_grad_checkpoint_is_refused_for_a_cnn(tmp_path):
    train, val = _fake_data(tmp_path)
    res = _cli("train", "--model", "tinycnn-326", "--sigma", "25", "--data", str(train),
               "--val", str(val), "--run-dir", str(tmp_path / "run"), "--grad-checkpoint")
    assert_user_error(res, "--grad-checkpoint is for the pixel and patch games")
    assert not (tmp_path / "run").exists()


def test_coverage_loss_weights_a_crop_by_its_squared_patch_coverage():
    from stereo_tv.core import PatchGame
    from stereo_tv.denoising._task import DenoiseTask, coverage_weight

    game = PatchGame(num_atoms=9, patch_size=3, iters=1)
    w = coverage_weight(game, (5, 4), torch.zeros(1))
    counts = torch.tensor([[1, 2, 2, 1], [2, 4, 4, 2], [3, 6, 6, 3], [2, 4, 4, 2], [1, 2, 2, 1.]])
    torch.testing.assert_close(w[0, 0], (counts / 6) ** 2)

    # an error only where the weight is small barely counts; in the interior it counts fully
    clean = torch.zeros(2, 1, 5, 4)

    class Constant(torch.nn.Module):      # returns a fixed estimate, with the game's patch size
        patch_size = 3

        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, noisy):
            return self.out

    corner, middle = clean.clone(), clean.clone()
    corner[:, :, 0, 0] = 1.0
    middle[:, :, 2, 1] = 1.0
    plain, weighted = DenoiseTask(with_ssim=False), DenoiseTask(with_ssim=False, weight="coverage")
    loss = {name: [task.training_step(Constant(out), (clean, clean))[0].item()
                   for out in (corner, middle)] for name, task in (("plain", plain),
                                                                   ("weighted", weighted))}
    assert loss["plain"][0] == pytest.approx(loss["plain"][1]) == pytest.approx(1 / 20)
    assert loss["weighted"] == pytest.approx([(1 / 36) / w.sum().item(), 1 / w.sum().item()])
    with pytest.raises(ValueError, match="needs a patch model"):
        weighted.training_step(torch.nn.Identity(), (clean, clean))
    with pytest.raises(ValueError, match="unknown loss weight"):
        DenoiseTask(weight="border")


def test_coverage_loss_weight_is_refused_for_a_pixel_model(tmp_path):
    train, val = _fake_data(tmp_path)
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", "--data", str(train),
               "--val", str(val), "--run-dir", str(tmp_path / "run"), "--loss-weight", "coverage")
    assert_user_error(res, "--loss-weight coverage is for the patch models, not 'tv-asym-eg'")
    assert not (tmp_path / "run").exists()


def test_centred_patches_are_recorded_and_inherited_by_sc_bb(tmp_path):
    """``--center-patches`` is a build override of the patch models: recorded in the weight
    file and inherited by ``--init-from``; ``sc`` -> ``sc-bb`` scales the learned steps."""
    train, val = _fake_data(tmp_path)
    smoke = _patch_smoke(tmp_path, train, val)
    sc = tmp_path / "sc.pt"
    res = _cli("train", "--model", "sc", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "sc"), "--center-patches", "--export", str(sc))
    assert res.returncode == 0, res.stderr
    model, meta = load_weights(sc)
    assert meta["config"]["center"] is True and model.center
    bb = tmp_path / "bb.pt"
    res = _cli("train", "--model", "sc-bb", "--sigma", "25", *smoke, "--run-dir",
               str(tmp_path / "bb"), "--init-from", str(sc), "--export", str(bb))
    assert res.returncode == 0, res.stderr
    assert "'bb_step_scale': 0.4" in res.stdout
    model, meta = load_weights(bb)
    assert model.center and model.bb_step and meta["config"]["center"] is True
    res = _cli("train", "--model", "tv-asym-eg", "--sigma", "25", "--data", str(train),
               "--val", str(val), "--run-dir", str(tmp_path / "tv"), "--center-patches")
    assert_user_error(res, "--center-patches is for the patch models (sc*, nlgroup*), not "
                           "'tv-asym-eg'")
    assert not (tmp_path / "tv").exists()
