"""Shared fixtures: the ../shared folder (data, weights, references) and small helpers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from stereo_tv.cli import run_cli
from stereo_tv.config import shared_root

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()


def run_script(script: str | os.PathLike, *args: str, env_extra: dict | None = None,
               timeout: int = 600, threads: int = 1) -> subprocess.CompletedProcess:
    """Run a repository script (``"scripts/denoise.py"`` or a path) as a user would.

    A subprocess in the repository root, the repository on ``PYTHONPATH``, ``threads`` OpenMP
    threads unless the environment sets them, no ``STEREO_TV_PSMNET`` unless ``env_extra``
    gives it; stdout / stderr captured as text.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", str(threads))
    env.pop("STEREO_TV_PSMNET", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def load_script(script: str | os.PathLike) -> types.ModuleType:
    """A repository script (``"scripts/demo.py"`` or a path) imported as a module, not run."""
    path = REPO / script
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(script: str | os.PathLike, *argv: str) -> int:
    """Run a script's ``main`` in-process through ``run_cli`` (exit status, errors mapped)."""
    module = load_script(script)
    return run_cli(module.main, module.get_args_parser(), [str(a) for a in argv])


def assert_user_error(proc: subprocess.CompletedProcess, *words: str,
                      single_line: bool = True) -> None:
    """Exit status 2, no traceback, and an ``error: ...`` last line naming every word.

    With ``single_line`` the error is all of stderr (nothing else was printed).
    """
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert len(lines) == 1 or not single_line, proc.stderr
    for word in words:
        assert word in lines[-1], lines[-1]


def shared_path(*parts: str) -> Path:
    """Path under ../shared, skipping the test (with the reason) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the repo), which is absent")
    return path


@pytest.fixture
def shared():
    """``shared("data", "kitti2012")`` returns the path or skips with the reason."""
    return shared_path


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield
    # a test (or code run in-process) must not leave autograd switched off for the next ones
    assert torch.is_grad_enabled(), "autograd was left disabled"
