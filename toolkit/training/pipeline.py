"""``hdnnp train CONFIG -o RUN/``: data -> feature file -> scaled, split data -> trained model.pt.

Outputs in ``RUN/``: ``model.pt`` (:func:`toolkit.potential.save_model`, with
provenance: the config, seed, versions, split sizes, normalisation, RMSEs),
``learning_curve.csv`` and ``learning_curve.png``, ``metrics.json``, and
``checkpoint.pt`` (resume by rerunning the same command).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from ..errors import ToolkitError
from ..fileio import atomic_write, write_json
from ..provenance import provenance, seed_everything
from .experiment import ModelSpec, prepare
from .trainer import TrainSettings, evaluate, train


def candidate_r_min(cfg: dict, structures=None, echo=print) -> float | None:
    """``symfuncs.r_min`` as a number (``auto``: shortest distance in ``structures``, rounded down to 0.01)."""
    import math

    from ..symfuncs.neighbors import shortest_distance

    r_min = cfg["symfuncs"]["r_min"]
    if r_min != "auto":
        return r_min
    if structures is None:
        raise ToolkitError("'symfuncs.r_min: auto' needs the structures (data.structures) to measure distances in")
    d = shortest_distance(structures, cfg["symfuncs"]["rc"])
    if not math.isfinite(d):
        raise ToolkitError(f"'symfuncs.r_min: auto': no two atoms closer than rc = {cfg['symfuncs']['rc']:g}")
    r_min = math.floor(d * 100) / 100
    echo(f"shortest interatomic distance {d:.4g}: shifted radial candidates start at r_min = {r_min:g}")
    return r_min


def candidate_symfuncs(cfg: dict, element: str, structures=None, echo=print):
    """The candidate functions of ``cfg['symfuncs']`` (``structures``: needed for ``r_min: auto``)."""
    from ..symfuncs import al_candidates_329, standard_candidates

    sc = cfg["symfuncs"]
    if sc["candidates"] == "standard":
        return standard_candidates(element, rc=sc["rc"], rc_angular=sc["rc_angular"], n_centered=sc["n_centered"],
                                   n_shifted=sc["n_shifted"], r_min=candidate_r_min(cfg, structures, echo))
    if sc["candidates"] == "al329":
        return al_candidates_329(element)
    from ..n2p2.settings import read_input_nn

    return read_input_nn(sc["input_nn"]).symfuncs


def resolve_data(cfg: dict, out_dir: Path, echo=print) -> tuple[Path, Path | None]:
    """The feature file (computed once if missing) and the structure file (None if unknown)."""
    d = cfg["data"]
    structures = Path(d["structures"]) if d["structures"] else None
    if d["generate"]:
        from ..lammps.generate import generate

        g = dict(d["generate"])
        gen_out = Path(g.pop("out", None) or out_dir / "data")
        if not (gen_out / "input.data").is_file():
            echo(f"generating reference data in {gen_out}")
            generate(g.pop("system"), gen_out, n_configs=g.pop("configs", None), seed=g.pop("seed", 0),
                     temperatures=g.pop("temperatures", None), densities=g.pop("densities", None),
                     starts=g.pop("starts", None), jobs=g.pop("jobs", 1), show_progress=cfg["training"]["progress"])
        structures = gen_out / "input.data"
    features = Path(d["features"]) if d["features"] else out_dir / "features.h5"
    if features.is_file():
        return features, structures
    if structures is None or not structures.is_file():
        raise ToolkitError(f"no feature file {features} and no structures to compute it from ({structures})")
    from ..features import write_feature_file
    from ..structures import read_structures
    from ..symfuncs import SymmetryFunctionSet

    structs = read_structures(structures)
    element = cfg["symfuncs"]["element"] or sorted({e for s in structs for e in s.elements})[0]
    elements = sorted({e for s in structs for e in s.elements})
    if len(elements) > 1 and cfg["symfuncs"]["candidates"] != "input.nn":
        raise ToolkitError(f"{structures}: {len(elements)} elements; give the candidates as symfuncs.input_nn")
    sfset = SymmetryFunctionSet(candidate_symfuncs(cfg, element, structs, echo), elements)
    echo(f"computing {sum(sfset.n_features.values())} candidate functions of {len(structs)} structures -> {features}")
    write_feature_file(features, structs, sfset, derivatives=d["derivatives"] or cfg["training"]["force_weight"] > 0,
                       store_dtype=d["store_dtype"], show_progress=cfg["training"]["progress"],
                       settings={"config": cfg.get("_path")})
    return features, structures


def train_settings(cfg: dict) -> TrainSettings:
    t = cfg["training"]
    return TrainSettings(epochs=t["epochs"], batch_size=t["batch_size"], lr=t["lr"], lr_min_factor=t["lr_min_factor"],
                         restart_period=t["restart_period"], restart_mult=t["restart_mult"],
                         weight_decay=t["weight_decay"], patience=t["patience"], min_delta=t["min_delta"],
                         force_weight=t["force_weight"], seed=t["seed"], checkpoint_every=t["checkpoint_every"],
                         progress=t["progress"], compile=t["compile"], optimizer=t["optimizer"],
                         lbfgs_steps=t["lbfgs_steps"])


def model_spec(cfg: dict) -> ModelSpec:
    m = cfg["model"]
    return ModelSpec(hidden=list(m["hidden"]), activations=m["activations"], scaling=m["scaling"],
                     scale_min=float(m["scale_min"]), scale_max=float(m["scale_max"]),
                     normalize_nodes=m["normalize_nodes"], atom_energy=dict(m["atom_energy"]))


def setup_torch(cfg: dict) -> None:
    t = cfg["training"]
    if t["threads"]:
        torch.set_num_threads(int(t["threads"]))
    seed_everything(t["seed"])


def prepare_experiment(cfg: dict, out_dir: Path, echo=print):
    setup_torch(cfg)
    features, structures = resolve_data(cfg, out_dir, echo)
    t = cfg["training"]
    exp = prepare(features, model_spec(cfg), split=tuple(t["split"]), split_seed=t["split_seed"],
                  dtype=getattr(torch, t["dtype"]), forces=t["force_weight"] > 0, device=t["device"])
    return exp, structures


def write_history(history: list[dict], out: Path, title: str = "") -> None:
    from ..selection.plots import plot_learning_curve

    if not history:
        return
    keys = list(dict.fromkeys(k for h in history for k in h))
    with atomic_write(out.with_suffix(".csv"), newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    plot_learning_curve(history, out.with_suffix(".png"), title)


def run_train(cfg: dict, out_dir: str | Path, echo=print) -> Path:
    """Train one model on all candidate functions; returns ``RUN/model.pt``."""
    from ..potential import save_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exp, _ = prepare_experiment(cfg, out_dir, echo)
    st = train_settings(cfg)
    echo(f"{len(exp.train)} training, {len(exp.val)} validation, {len(exp.test)} test structures; "
         f"{exp.data.n_features} functions")
    if cfg["training"]["init_model"]:
        from ..potential import load_potential

        src = cfg["training"]["init_model"]
        try:
            nets = exp.networks_from_model(load_potential(src))
        except ToolkitError as exc:
            raise ToolkitError(f"{cfg.get('_path', 'config')}: 'training.init_model' {src}: {exc}") from None
        echo(f"starting from the weights of {src}")
    else:
        nets = exp.new_networks(seed=st.seed)
    res = train(nets, exp.data, exp.train, exp.val, st, checkpoint=out_dir / "checkpoint.pt", label="train")
    forces = st.force_weight > 0
    metrics = {"val": evaluate(nets, exp.data, exp.val, forces=forces),
               "test": evaluate(nets, exp.data, exp.test, forces=forces) if len(exp.test) else {},
               "train": evaluate(nets, exp.data, exp.train, forces=forces),
               "best_epoch": res.best_epoch, "lr": res.lr, "stopped_early": res.stopped_early, "seconds": res.seconds}
    write_history(res.history, out_dir / "learning_curve", "training")
    model = exp.to_model(nets)
    prov = provenance({"config": {k: v for k, v in cfg.items() if not k.startswith("_")},
                       "config_file": cfg.get("_path"), **exp.settings_dict()}, seed=st.seed)
    save_model(model, out_dir / "model.pt", provenance=prov, extra={"metrics": metrics})
    write_json(out_dir / "metrics.json", metrics)
    echo(f"validation RMSE {metrics['val']['rmse_energy']:.4g} energy/atom, "
         f"test {metrics['test'].get('rmse_energy', float('nan')):.4g}; wrote {out_dir / 'model.pt'}")
    return out_dir / "model.pt"
