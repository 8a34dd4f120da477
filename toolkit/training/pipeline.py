"""``hdnnp train CONFIG -o RUN/``: data -> feature file -> scaled, split data -> trained model.pt.

Outputs in ``RUN/``: ``model.pt`` (:func:`toolkit.potential.save_model`, with
provenance: the config, seed, versions, split sizes, normalisation, RMSEs),
``learning_curve.csv`` and ``learning_curve.png``, ``metrics.json``,
``checkpoint.pt`` (resume by rerunning the same command) and ``config.json``
(:func:`toolkit.config.check_run_dir`: a rerun with other settings is refused).
Reference data of ``data.generate`` is made beforehand by
:func:`toolkit.datagen.generate_data`: training never runs LAMMPS.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from ..config import check_inputs, check_run_dir
from ..errors import ToolkitError
from ..fileio import atomic_write, write_json
from ..provenance import provenance, seed_everything
from ..settings import Config, SymfuncSettings
from .experiment import prepare
from .trainer import evaluate, train


def candidate_r_min(sc: SymfuncSettings, structures=None, echo=print) -> float | None:
    """``symfuncs.r_min`` as a number (``auto``: shortest distance in ``structures``, rounded down to 0.01)."""
    import math

    from ..symfuncs.neighbors import shortest_distance

    if sc.r_min != "auto":
        return sc.r_min
    if structures is None:
        raise ToolkitError("'symfuncs.r_min: auto' needs the structures (data.structures) to measure distances in")
    d = shortest_distance(structures, sc.rc)
    if not math.isfinite(d):
        raise ToolkitError(f"'symfuncs.r_min: auto': no two atoms closer than rc = {sc.rc:g}")
    r_min = math.floor(d * 100) / 100
    echo(f"shortest interatomic distance {d:.4g}: shifted radial candidates start at r_min = {r_min:g}")
    return r_min


def candidate_symfuncs(sc: SymfuncSettings, element: str, structures=None, echo=print, elements=None):
    """The candidate functions of the ``symfuncs:`` section (``structures``: needed for ``r_min: auto``).

    ``elements``: all elements of the data, for the element-resolved named sets
    (:mod:`toolkit.symfuncs.grids`; default ``[element]``).
    """
    from ..symfuncs import al_candidates_329, standard_candidates
    from ..symfuncs.grids import NAMED_SETS, named_candidates

    if sc.candidates in NAMED_SETS:
        cands = named_candidates(sc.candidates, elements or [element])
    elif sc.candidates == "standard":
        cands = standard_candidates(element, rc=sc.rc, rc_angular=sc.rc_angular, n_centered=sc.n_centered,
                                    n_shifted=sc.n_shifted, r_min=candidate_r_min(sc, structures, echo))
    elif sc.candidates == "al329":
        cands = al_candidates_329(element)
    else:
        from ..n2p2.settings import read_input_nn

        cands = read_input_nn(sc.input_nn).symfuncs
    return cands if sc.drop_below is None else drop_zero_on_data(cands, sc.drop_below, structures, echo)


def drop_zero_on_data(symfuncs, threshold: float, structures, echo=print) -> list:
    """The candidates without the radial ones that are zero on the data: pair term below ``threshold`` at every
    distance from the data's shortest interatomic distance to the cutoff (e.g. the al329 set's shifted
    functions centred far below the liquid's shortest distance). Angular functions are kept."""
    import numpy as np

    from ..symfuncs.compute import radial_terms
    from ..symfuncs.neighbors import shortest_distance

    if structures is None:
        raise ToolkitError("'symfuncs.drop_below' needs the structures (data.structures) to measure distances in")
    rc = max(sf.rc for sf in symfuncs)
    d = shortest_distance(structures, rc)
    if not math.isfinite(d):
        return list(symfuncs)
    r = np.linspace(d, rc, 2000)
    radial = [sf for sf in symfuncs if sf.is_radial]
    peak = dict(zip(map(id, radial), radial_terms(radial, r).max(axis=1))) if radial else {}
    keep = [sf for sf in symfuncs if not sf.is_radial or peak[id(sf)] >= threshold]
    echo(f"symfuncs.drop_below {threshold:g}: {len(symfuncs) - len(keep)} radial candidates are below it at every "
         f"distance from the data's shortest ({d:.4g}) to the cutoff and are dropped; {len(keep)} remain")
    return keep


def resolve_data(cfg: Config, out_dir: Path, echo=print) -> tuple[Path, Path | None]:
    """The feature file (computed once if missing) and the structure file (None if unknown)."""
    d = cfg.data
    structures = d.structures_file(out_dir)
    features = Path(d.features) if d.features else Path(out_dir) / "features.h5"
    if features.is_file():
        return features, structures
    if d.generate is not None and not structures.is_file():
        raise ToolkitError(f"{cfg.source or 'config'}: 'data.generate': no data yet in {structures.parent} "
                           "(toolkit.datagen.generate_data makes it; hdnnp train/select call it)")
    if structures is None or not structures.is_file():
        raise ToolkitError(f"no feature file {features} and no structures to compute it from ({structures})")
    from ..features import write_feature_file
    from ..structures import read_structures
    from ..structures import check_min_distance
    from ..symfuncs import SymmetryFunctionSet

    structs = read_structures(structures)
    check_min_distance(structs, d.min_distance, source=structures)
    elements = sorted({e for s in structs for e in s.elements})
    element = cfg.symfuncs.element or elements[0]
    if len(elements) > 1 and cfg.symfuncs.candidates not in ("input.nn", "cuzr"):
        raise ToolkitError(f"{structures}: {len(elements)} elements; give the candidates as symfuncs.input_nn "
                           "or an element-resolved set (symfuncs.candidates: cuzr)")
    sfset = SymmetryFunctionSet(candidate_symfuncs(cfg.symfuncs, element, structs, echo, elements), elements)
    echo(f"computing {sum(sfset.n_features.values())} candidate functions of {len(structs)} structures -> {features}")
    write_feature_file(features, structs, sfset, derivatives=d.derivatives, store_dtype=d.store_dtype,
                       show_progress=cfg.training.progress, settings={"config": cfg.source},
                       force_atoms=d.force_atoms, force_seed=d.force_seed)
    return features, structures


def setup_torch(cfg: Config) -> None:
    """Threads and seeds of ``training:``."""
    t = cfg.training
    if t.threads:
        torch.set_num_threads(int(t.threads))
    seed_everything(t.seed)


def prepare_experiment(cfg: Config, out_dir: Path, echo=print):
    setup_torch(cfg)
    features, structures = resolve_data(cfg, out_dir, echo)
    t = cfg.training
    on_the_fly = t.force_weight > 0 and t.derivatives == "on_the_fly"
    exp = prepare(features, cfg.model, split=tuple(t.split), split_seed=t.split_seed, dtype=getattr(torch, t.dtype),
                  forces=t.force_weight > 0 and not on_the_fly, device=t.device, memory=t.memory_bytes,
                  train_tail=t.train_tail, tail_weight=t.tail_weight, tail_weight_structures=t.tail_weight_structures)
    if on_the_fly:
        from ..structures import read_structures

        if structures is None or not Path(structures).is_file():
            raise ToolkitError(f"{cfg.source or 'config'}: 'training.derivatives: on_the_fly' needs the "
                               f"structures ('data.structures')")
        echo("force training with derivatives computed on the fly (none stored)")
        exp.data.derivatives_on_the_fly(read_structures(structures), device=t.device,
                                        force_atoms=cfg.data.force_atoms, force_seed=cfg.data.force_seed)
    if t.force_weight > 0:
        exp.data.set_force_sampling(t.force_atoms, t.force_resample, t.seed)
    return exp, structures


def run_provenance(cfg: Config, exp) -> dict:
    """What ``model.pt`` and ``selected.json`` record: the config, its file, the split and normalisation."""
    return provenance({"config": cfg.as_dict(), "config_file": cfg.source, **exp.settings_dict()},
                      seed=cfg.training.seed)


def write_history(history: list[dict], out: Path, title: str = "") -> None:
    from ..plotting import plot_learning_curve

    if not history:
        return
    keys = list(dict.fromkeys(k for h in history for k in h))
    with atomic_write(out.with_suffix(".csv"), newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    plot_learning_curve(history, out.with_suffix(".png"), title)


def run_train(cfg: Config, out_dir: str | Path, echo=print) -> Path:
    """Train one model on all candidate functions; returns ``RUN/model.pt``."""
    from ..potential import save_model

    out_dir = Path(out_dir)
    check_inputs(cfg)
    check_run_dir(cfg, out_dir, record=False)
    exp, _ = prepare_experiment(cfg, out_dir, echo)
    check_run_dir(cfg, out_dir)
    st = cfg.training
    echo(f"{len(exp.train)} training, {len(exp.val)} validation, {len(exp.test)} test structures; "
         f"{exp.data.n_features} functions")
    if st.init_model:
        from ..potential import load_potential

        try:
            nets = exp.networks_from_model(load_potential(st.init_model))
        except ToolkitError as exc:
            raise ToolkitError(f"{cfg.source or 'config'}: 'training.init_model' {st.init_model}: {exc}") from None
        echo(f"starting from the weights of {st.init_model}")
    else:
        nets = exp.new_networks(seed=st.seed)
    res = train(nets, exp.data, exp.train, exp.val, st, checkpoint=out_dir / "checkpoint.pt", label="train")
    forces = st.force_weight > 0
    metrics = {"val": evaluate(nets, exp.data, exp.val, forces=forces, memory=st.memory_bytes),
               "test": evaluate(nets, exp.data, exp.test, forces=forces, memory=st.memory_bytes) if len(exp.test) else {},
               "train": evaluate(nets, exp.data, exp.train, forces=forces, memory=st.memory_bytes),
               "best_epoch": res.best_epoch, "lr": res.lr, "stopped_early": res.stopped_early, "seconds": res.seconds}
    write_history(res.history, out_dir / "learning_curve", "training")
    model = exp.to_model(nets)
    save_model(model, out_dir / "model.pt", provenance=run_provenance(cfg, exp), extra={"metrics": metrics})
    write_json(out_dir / "metrics.json", metrics)
    echo(f"validation RMSE {metrics['val']['rmse_energy']:.4g} energy/atom, "
         f"test {metrics['test'].get('rmse_energy', float('nan')):.4g}; wrote {out_dir / 'model.pt'}")
    return out_dir / "model.pt"
