"""YAML configuration of ``hdnnp train`` and ``hdnnp select``: read, resolve paths, validate.

The schema (every key, its type, default, range and meaning) is the settings
model of :mod:`toolkit.settings`; :func:`load_config` returns its
:class:`~toolkit.settings.Config`. Unknown keys and bad values raise
:class:`~toolkit.errors.InputFileError` naming the file and the key
(``section.key``). Paths in the file are relative to the file's folder.
:func:`check_inputs` checks that the input files it names exist;
:func:`check_run_dir` refuses to resume a run folder made with other settings.
"""

from __future__ import annotations

import os
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import yaml

from .errors import InputFileError, ToolkitError
from .fileio import write_json
from .settings import SECTIONS, Config, from_dict, section_hints
from .steps import check_resume

__all__ = ["Config", "load_config", "check_inputs", "check_run_dir"]


def _resolve_paths(cls, body: dict, base: Path) -> None:
    """Make the path-valued keys of one section body absolute (relative to ``base``), in place."""
    hints = section_hints(cls)
    for f in fields(cls):
        v = body.get(f.name)
        if f.metadata.get("path") and isinstance(v, str) and v and not Path(v).is_absolute():
            body[f.name] = str((base / v).resolve())
        elif isinstance(v, dict):
            sub = [a for a in typing.get_args(hints[f.name]) if is_dataclass(a)]
            if sub:
                _resolve_paths(sub[0], v, base)


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a YAML config; returns every section with defaults filled in."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except UnicodeDecodeError as exc:
        raise InputFileError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputFileError(path, None if line is None else line + 1, f"not valid YAML: {exc}") from None
    if isinstance(raw, dict):
        base = path.resolve().parent
        for name, body in raw.items():
            if name in SECTIONS and isinstance(body, dict):
                _resolve_paths(SECTIONS[name], body, base)
    return from_dict(raw, str(path))


def check_inputs(cfg: Config) -> None:
    """The input files the config names exist; errors name the key (run before any work)."""
    def missing(key: str, value: str, what: str = "no such file"):
        raise InputFileError(cfg.source or "config", None, f"'{key}': {what}: {value}")

    d = cfg.data
    if d.generate is None and not (d.features and Path(d.features).is_file()):
        if not d.structures:
            missing("data.features", d.features, "no such file, and no 'data.structures' to compute it from")
        if not Path(d.structures).is_file():
            missing("data.structures", d.structures)
        if cfg.symfuncs.candidates == "input.nn" and not Path(cfg.symfuncs.input_nn).is_file():
            missing("symfuncs.input_nn", cfg.symfuncs.input_nn)
    if cfg.training.init_model and not Path(cfg.training.init_model).exists():
        missing("training.init_model", cfg.training.init_model)


def check_run_dir(cfg: Config, run_dir: str | os.PathLike, record: bool = True) -> None:
    """Refuse a run folder made with other settings; ``record``: then write ``RUN/config.json``.

    Only keys that change the results are compared (progress bars, threads and
    the like may change between a run and its resumption). The error names the
    config file and every key that differs. Call it with ``record=False`` before
    any work and again once the inputs were read, so a refused input leaves no
    new file behind.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    now = cfg.flat(results_only=True)
    try:
        check_resume(path, now, "a run")
    except InputFileError:
        raise
    except ToolkitError as exc:
        raise InputFileError(cfg.source or "config", None, str(exc)) from None
    if record and not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, {"config_file": cfg.source, "settings": now})
