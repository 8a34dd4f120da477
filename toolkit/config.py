"""YAML configuration of ``hdnnp train`` and ``hdnnp select``: schema, defaults, validation.

Every key is checked: unknown keys and bad values raise
:class:`~toolkit.errors.InputFileError` naming the file and the key
(``section.key``). Paths in the file are relative to the file's folder.
The keys and their meaning are listed in ``docs/selection.md``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import InputFileError

_NUM = (int, float)


def _pos(x):
    return x > 0


def _nonneg(x):
    return x >= 0


# section -> key -> (types, default, check or None, description)
SCHEMA: dict[str, dict[str, tuple]] = {
    "data": {
        "structures": ((str,), None, None, "input.data (n2p2) or any file ASE reads"),
        "features": ((str,), None, None, "HDF5 feature file (written if missing; default OUT/features.h5)"),
        "generate": ((dict,), None, None, "run the reference-data generator: {system, configs, seed, out}"),
        "store_dtype": ((str,), "float32", lambda v: v in ("float32", "float64"), "feature storage dtype"),
        "derivatives": ((bool,), False, None, "store SF derivatives (needed for force training)"),
    },
    "symfuncs": {
        "candidates": ((str,), "standard", lambda v: v in ("standard", "al329", "input.nn"),
                       "standard (12 radial + 10 angular), al329, or input.nn (read 'input_nn')"),
        "element": ((str,), None, None, "element symbol (default: from the data)"),
        "rc": (_NUM, 2.8, _pos, "cutoff radius of the standard candidates"),
        "rc_angular": (_NUM, None, _pos, "cutoff of the angular candidates (default rc)"),
        "n_centered": ((int,), 6, _nonneg, "standard candidates: centred radial functions (rs = 0)"),
        "n_shifted": ((int,), 6, _nonneg, "standard candidates: shifted radial functions of one width"),
        "r_min": (_NUM + (str,), None, lambda v: v == "auto" or (not isinstance(v, str) and v > 0),
                  "centre of the innermost shifted radial candidate (default 0.25 rc; auto: the shortest "
                  "interatomic distance in the data, rounded down to 0.01)"),
        "input_nn": ((str,), None, None, "input.nn whose symfunction_short lines are the candidates"),
    },
    "model": {
        "hidden": ((list,), [10, 10], lambda v: all(isinstance(n, int) and n > 0 for n in v), "hidden layer widths"),
        "activations": ((list, type(None)), None, None, "n2p2 letters, hidden layers then output (default t..t l)"),
        "scaling": ((str,), "scalecenter", lambda v: v in ("none", "scale", "center", "scalecenter", "scalesigma"),
                    "n2p2 scaling mode"),
        "scale_min": (_NUM, 0.0, None, "scale_min_short"),
        "scale_max": (_NUM, 1.0, None, "scale_max_short"),
        "normalize_nodes": ((bool,), False, None, "n2p2 normalize_nodes"),
        "atom_energy": ((dict,), {}, None, "per-element energy offsets"),
    },
    "training": {
        "epochs": ((int,), 300, _pos, "maximum epochs"),
        "batch_size": ((int,), 32, _pos, "structures per batch"),
        "lr": (_NUM + (type(None),), None, None, "learning rate (null: learning-rate finder)"),
        "lr_min_factor": (_NUM, 0.01, _pos, "cosine annealing floor as a fraction of lr"),
        "restart_period": ((int,), 50, _pos, "epochs until the first warm restart"),
        "restart_mult": ((int,), 1, _pos, "period multiplier after each restart"),
        "weight_decay": (_NUM, 1e-4, _nonneg, "AdamW weight decay (hidden/output weights only)"),
        "patience": ((int,), 100, _pos, "early stopping: epochs without improvement"),
        "min_delta": (_NUM, 1e-4, _nonneg, "early stopping: relative improvement that counts"),
        "force_weight": (_NUM, 0.0, _nonneg, "weight of the force MSE in the loss"),
        "split": ((list,), [0.8, 0.1, 0.1], lambda v: len(v) == 3 and all(isinstance(x, _NUM) and x >= 0 for x in v),
                  "train/validation/test fractions"),
        "split_seed": ((int,), 0, None, "seed of the split"),
        "seed": ((int,), 0, None, "seed of initialisation and batch order"),
        "dtype": ((str,), "float32", lambda v: v in ("float32", "float64"), "training precision"),
        "device": ((str,), "cpu", None, "torch device (cpu, cuda, cuda:1, ...)"),
        "threads": ((int, type(None)), None, None, "torch CPU threads (default: torch's choice)"),
        "compile": ((bool,), False, None, "torch.compile the networks (falls back to eager on failure)"),
        "optimizer": ((str,), "adam", lambda v: v in ("adam", "lbfgs"),
                      "adam (minibatch AdamW) or lbfgs (full-batch L-BFGS; for refits, not for the lasso stages)"),
        "lbfgs_steps": ((int,), 10, _pos, "L-BFGS iterations per epoch"),
        "checkpoint_every": ((int,), 10, _nonneg, "epochs between checkpoints"),
        "init_model": ((str, type(None)), None, None,
                       "start from this potential's weights (model.pt or n2p2 folder; same functions and "
                       "layers; scaling and normalisation are transformed exactly)"),
        "progress": ((bool,), True, None, "progress bars"),
    },
    "selection": {
        "lambdas": ((list, dict), {"min": 0.01, "max": 10.0, "num": 10}, None,
                    "list of lambdas, or {min, max, num} (log-spaced)"),
        "gamma": (_NUM, 1.0, _pos, "adaptive weights 1/||w_GL||^gamma"),
        "angular_cost": (_NUM, 1.0, _pos, "penalty weight of an angular function's group relative to a radial "
                                          "one (1: the published method; >1 favours cheap radial functions)"),
        "prox": ((str,), "adam", lambda v: v in ("adam", "lr"), "proximal step size: adam or lr"),
        "gl_epochs": ((int, type(None)), None, None, "epochs of the group-lasso stage (default training.epochs)"),
        "agl_epochs": ((int, type(None)), None, None, "epochs of the adaptive stage"),
        "refit_epochs": ((int, type(None)), None, None, "epochs of the refit"),
        "refit_optimizer": ((str, type(None)), None, lambda v: v in ("adam", "lbfgs"),
                            "optimizer of the refits along the path (default training.optimizer; lbfgs: "
                            "full batch, unit step, refit_epochs x training.lbfgs_steps iterations)"),
        "max_features": ((int,), 8, _pos, "largest set the choice may return"),
        "tolerance": (_NUM, 1.5, _pos, "chosen set: refit validation RMSE <= tolerance x the best (full model or best refit)"),
        "metric": ((str,), "auto", lambda v: v in ("auto", "energy", "forces"),
                   "error the choice compares: energy, forces (needs training.force_weight > 0), or auto "
                   "(forces when the path trains on forces)"),
        "baselines": ((list,), ["cur", "pearson"], lambda v: all(x in ("cur", "pearson") for x in v),
                      "baseline selectors"),
        "pearson_threshold": (_NUM, 0.9, lambda v: 0 < v <= 1, "Pearson filter: max |corr| with a kept feature"),
        "cur_atoms": ((int,), 20000, _pos, "atoms sampled for CUR"),
        "repeats": ((int,), 5, _nonneg, "models per feature set for the test-RMSE comparison"),
        "repeat_epochs": ((int, type(None)), None, None, "epochs of the repeat trainings"),
        "fakes": ((int,), 0, _nonneg, "fake features added for the fake-feature experiment (0: none)"),
        "fakes_seed": ((int,), 0, None, "seed of the fake features"),
        "parallel_fakes": ((bool,), False, None, "run the fake-feature path in a second thread, alongside the "
                                                 "main path (uses one more core)"),
        "rdf_structures": ((int,), 50, _pos, "structures sampled for g(r)"),
    },
}


def _check(section: str, key: str, value: Any, path: Path) -> None:
    types, _, check, desc = SCHEMA[section][key]
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise InputFileError(path, None, f"'{section}.{key}' must be {want} ({desc}), got {value!r}")
    if check is not None and value is not None:
        try:
            good = check(value)
        except Exception:
            good = False
        if not good:
            raise InputFileError(path, None, f"bad value for '{section}.{key}' ({desc}): {value!r}")


def load_config(path: str | os.PathLike) -> dict:
    """Read and validate a YAML config; returns every section with defaults filled in."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "config file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputFileError(path, None if line is None else line + 1, f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InputFileError(path, None, "the config must be a mapping of sections")
    cfg: dict[str, dict] = {}
    for section, body in raw.items():
        if section not in SCHEMA:
            hint = difflib.get_close_matches(str(section), list(SCHEMA), n=1)
            raise InputFileError(path, None, f"unknown section '{section}'"
                                 + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(SCHEMA)})"))
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InputFileError(path, None, f"section '{section}' must be a mapping")
        for key, value in body.items():
            if key not in SCHEMA[section]:
                hint = difflib.get_close_matches(str(key), list(SCHEMA[section]), n=1)
                raise InputFileError(path, None, f"unknown key '{section}.{key}'"
                                     + (f" (did you mean '{section}.{hint[0]}'?)" if hint else ""))
            _check(section, key, value, path)
    for section, keys in SCHEMA.items():
        body = raw.get(section) or {}
        cfg[section] = {k: body.get(k, spec[1]) for k, spec in keys.items()}
    data = cfg["data"]
    if not (data["structures"] or data["features"] or data["generate"]):
        raise InputFileError(path, None, "data: give 'structures' (input.data), 'features' (HDF5) or 'generate'")
    if data["generate"] is not None:
        allowed = {"system", "configs", "seed", "out", "temperatures", "densities", "starts", "jobs"}
        bad = set(data["generate"]) - allowed
        if bad:
            raise InputFileError(path, None, f"unknown key 'data.generate.{sorted(bad)[0]}' "
                                             f"(known: {', '.join(sorted(allowed))})")
        if "system" not in data["generate"]:
            raise InputFileError(path, None, "'data.generate' needs 'system' (lj, al-eam, si-sw)")
    lam = cfg["selection"]["lambdas"]
    if isinstance(lam, dict):
        if set(lam) != {"min", "max", "num"} or not all(isinstance(lam[k], _NUM) for k in lam) \
                or lam["min"] <= 0 or lam["max"] < lam["min"] or lam["num"] < 1:
            raise InputFileError(path, None, "'selection.lambdas' must be a list of positive numbers or "
                                             "{min: >0, max: >=min, num: >=1}")
    elif not lam or not all(isinstance(x, _NUM) and not isinstance(x, bool) and x > 0 for x in lam):
        raise InputFileError(path, None, "'selection.lambdas' must be a list of positive numbers")
    if cfg["symfuncs"]["candidates"] == "input.nn" and not cfg["symfuncs"]["input_nn"]:
        raise InputFileError(path, None, "'symfuncs.candidates: input.nn' needs 'symfuncs.input_nn'")
    acts = cfg["model"]["activations"]
    if acts is not None and len(acts) != len(cfg["model"]["hidden"]) + 1:
        raise InputFileError(path, None, f"'model.activations' needs {len(cfg['model']['hidden']) + 1} letters "
                                         f"(hidden layers + output), got {len(acts)}")
    base = path.resolve().parent
    for sec, key in (("data", "structures"), ("data", "features"), ("symfuncs", "input_nn")):
        if cfg[sec][key]:
            cfg[sec][key] = str((base / cfg[sec][key]).resolve()) if not Path(cfg[sec][key]).is_absolute() else cfg[sec][key]
    if data["generate"] and data["generate"].get("out") and not Path(data["generate"]["out"]).is_absolute():
        data["generate"]["out"] = str((base / data["generate"]["out"]).resolve())
    cfg["_path"] = str(path)
    return cfg


def lambda_values(cfg: dict) -> list[float]:
    import numpy as np

    lam = cfg["selection"]["lambdas"]
    if isinstance(lam, dict):
        return [float(x) for x in np.geomspace(lam["min"], lam["max"], int(lam["num"]))]
    return [float(x) for x in lam]
