"""One config helper for every script: YAML defaults, command-line overrides, strict keys.

A script declares its options with ``argparse`` as usual, then calls :func:`parse_config`.
A ``--config FILE.yaml`` gives new defaults for those options (keys are the options' ``dest``
names, dashes or underscores); flags written on the command line override the YAML. A YAML key
that names no option is an error, so a typo never passes silently.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--lr", type=float, default=1e-3)
    >>> parse_config(p, ["--lr", "0.5"]).lr
    0.5
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ConfigError", "parse_config", "load_yaml", "save_config", "namespace_to_dict", "shared_root",
]

SHARED_ENV = "STEREO_TV_SHARED"


def shared_root() -> Path:
    """The shared data folder: ``$STEREO_TV_SHARED``, else ``shared/`` beside the repository.

    Scripts take their default data paths (``<root>/data/...``) from here, so a checkout on
    another machine needs only the variable, never an edited config.
    """
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


class ConfigError(ValueError):
    """A config file is missing, unreadable or names an unknown key."""


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; empty file gives ``{}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def _dests(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}


def parse_config(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> argparse.Namespace:
    """Parse ``argv`` with ``parser``, taking defaults from ``--config`` when given.

    Adds a ``--config`` option to ``parser`` if it has none. Raises :class:`ConfigError` for an
    unknown YAML key (the message lists the valid ones).
    """
    if not any(a.dest == "config" for a in parser._actions):
        parser.add_argument("--config", default=None, help="YAML file of defaults")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config:
        raw = load_yaml(known.config)
        dests = _dests(parser)
        values = {}
        for key, value in raw.items():
            dest = str(key).replace("-", "_")
            if dest not in dests:
                valid = ", ".join(sorted(dests))
                raise ConfigError(f"{known.config}: unknown key '{key}'; valid keys: {valid}")
            values[dest] = value
        parser.set_defaults(**values)
    return parser.parse_args(argv)


def namespace_to_dict(args: argparse.Namespace | dict) -> dict[str, Any]:
    """Plain, YAML-safe dict of a namespace (paths become strings)."""
    items = vars(args).items() if isinstance(args, argparse.Namespace) else args.items()
    out = {}
    for key, value in items:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def save_config(run_dir: str | os.PathLike, args: argparse.Namespace | dict,
                argv: list[str] | None = None) -> Path:
    """Write the resolved ``config.yaml`` and the raw ``argv.txt`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(namespace_to_dict(args), sort_keys=True))
    os.replace(tmp, path)
    argv = sys.argv if argv is None else argv
    (run_dir / "argv.txt").write_text(" ".join(argv) + "\n")
    return path
