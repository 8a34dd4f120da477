"""Load and save potentials: n2p2 directories and the toolkit's ``model.pt``.

``model.pt`` is a plain dictionary (``torch.save``) holding the ``input.nn``
text, the scaling statistics, the network weights (state dict) and a
provenance record; it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .errors import InputFileError
from .fileio import atomic_path
from .model import HDNNP
from .n2p2.files import read_scaling, read_weights, weights_filename
from .n2p2.settings import format_input_nn, read_input_nn

MODEL_FORMAT = "hdnnp-toolkit/model/1"


def load_n2p2(directory: str | os.PathLike, dtype=torch.float64) -> HDNNP:
    """An HDNNP from an n2p2 directory (``input.nn``, ``scaling.data``, ``weights.NNN.data``)."""
    d = Path(directory)
    if not d.is_dir():
        raise InputFileError(d, None, "not a directory (expected input.nn, scaling.data, weights.NNN.data)")
    settings = read_input_nn(d / "input.nn")
    model = HDNNP(settings, None, dtype=dtype)
    counts = {e: len(v) for e, v in model.symfuncs.items()}
    scaling = None
    if settings.scaling != "none" or (d / "scaling.data").exists():
        scaling = read_scaling(d / "scaling.data", counts, settings.elements)
        try:
            model.set_scaling(scaling)
        except ValueError as exc:
            raise InputFileError(d / "scaling.data", None, str(exc)) from None
    for e in settings.elements:
        path = d / weights_filename(e)
        model.load_n2p2_layers(e, read_weights(path, settings.layer_sizes(e)))
    return model


def save_model(model: HDNNP, path: str | os.PathLike, provenance: dict | None = None, extra: dict | None = None) -> Path:
    """Save a potential as ``model.pt`` (atomic write)."""
    payload = {
        "format": MODEL_FORMAT,
        "input_nn": format_input_nn(model.settings),
        "scaling": {e: model.scaling_stats(e).detach().cpu().clone() for e in model.elements},
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "provenance": provenance or {},
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_model_file(path: str | os.PathLike, dtype=torch.float64) -> HDNNP:
    """An HDNNP from a toolkit ``model.pt``."""
    import tempfile

    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputFileError(path, None, f"not a readable model.pt ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise InputFileError(path, None, f"not a hdnnp-toolkit model (expected format {MODEL_FORMAT!r})")
    missing = [k for k in ("input_nn", "scaling", "state_dict") if k not in payload]
    if missing:
        raise InputFileError(path, None, f"damaged model file: no {', '.join(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        nn_path = Path(tmp) / "input.nn"
        nn_path.write_text(payload["input_nn"])
        try:
            settings = read_input_nn(nn_path, warn_unknown=False)
        except InputFileError as exc:
            raise InputFileError(path, None, f"damaged model file: its input.nn text: {exc.reason}") from None
    try:
        scaling = {e: payload["scaling"][e].numpy() for e in settings.elements}
        model = HDNNP(settings, None, dtype=dtype)
        model.load_state_dict(payload["state_dict"])
        model.set_scaling(scaling) if settings.scaling != "none" else None
    except (KeyError, RuntimeError, ValueError, AttributeError) as exc:
        raise InputFileError(path, None, f"damaged model file: its weights or scaling do not match its "
                                         f"input.nn ({str(exc).splitlines()[0][:200]})") from None
    model.provenance = payload.get("provenance", {})
    model.extra = payload.get("extra", {})
    return model


def load_potential(path: str | os.PathLike, dtype=torch.float64) -> HDNNP:
    """A potential from an n2p2 directory or a toolkit ``model.pt`` (decided by what ``path`` is)."""
    path = Path(path)
    if path.is_dir():
        return load_n2p2(path, dtype=dtype)
    if path.is_file():
        return load_model_file(path, dtype=dtype)
    raise InputFileError(path, None, "no such file or directory (expected an n2p2 directory or a model.pt)")
