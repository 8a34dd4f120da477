"""``hdnnp select CONFIG -o RUN/``: the AGL path, CUR and Pearson baselines, fakes, repeats, plots.

Steps (each resumable: finished parts are read back from ``RUN/`` on a rerun):

1. the full model on all candidates (``RUN/full/model.pt``, learning curve);
2. the AGL path (:mod:`toolkit.selection.path`): ``RUN/path.csv`` and
   ``RUN/path/step_NNN/{result.json,model.pt}``; the chosen set;
3. CUR and Pearson selections of as many functions per element;
4. ``repeats`` models per set (full, AGL, CUR, PC) from different seeds, each a
   :class:`toolkit.steps.Step` (``RUN/repeats/<set>_seed<N>/``): ``RUN/repeats.csv``,
   test-RMSE summaries and two-sample t-tests;
5. with ``fakes: M``: M fake features added, an AGL path on the augmented data
   (``RUN/fakes/``), CUR and PC on the augmented data; the number of fakes each keeps;
6. ``RUN/selected.json`` and the figures ``rmse_vs_n.png``,
   ``selection_matrix.png``, ``test_rmse_boxplot.png``, ``radial_rdf.png``.
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import numpy as np
import torch

from ..background import BackgroundTask
from ..config import check_inputs, check_run_dir
from ..errors import ToolkitError
from ..fileio import atomic_write, write_json
from ..training.experiment import Experiment
from ..settings import Config, SelectionSettings
from ..steps import Step
from ..training.pipeline import prepare_experiment, run_provenance, write_history
from ..training.trainer import evaluate, train
from . import plots
from .base import selected_columns
from .baselines import CURSelector, PearsonSelector
from .estimator import AdaptiveGroupLasso
from .fakes import is_fake, make_fakes
from .path import data_units, full_model, metric_label, ranked_steps, reference_rmse, write_path_csv
from .per_element import column_groups, element_summary
from .stats import pairwise_ttests, rdf, summarize


def _full_model(exp: Experiment, st, out: Path, prov: dict | None, save: bool):
    """The unpenalised model on all candidates in ``out`` (resumable), its learning curve and ``model.pt``."""
    from ..potential import save_model

    nets, result = full_model(exp, st, out)
    if result is not None:
        write_history(result.history, out / "learning_curve", "all candidates")
        if save:
            try:
                save_model(exp.to_model(nets), out / "model.pt", provenance=prov)
            except ToolkitError:
                pass  # fake columns: no potential
    return nets


def _selector(sel: SelectionSettings, st, metric: str, out: Path, prov: dict, echo,
              save_models: bool = True, cost=None) -> AdaptiveGroupLasso:
    """The AGL selector of the ``selection:`` section (training settings ``st``, resolved ``metric``)."""
    return AdaptiveGroupLasso.from_settings(sel, st, lambdas=sel.lambda_values(), metric=metric, checkpoint_dir=out,
                                            save_models=save_models, provenance=prov, callback=echo,
                                            function_cost=cost)


def _md_costs(exp: Experiment, structures_path, sel: SelectionSettings, echo):
    """Measured MD cost per function and element (``selection.cost_model: terms`` or ``box``), else None."""
    if sel.cost_model not in ("terms", "box"):
        return None
    if exp.data.symfuncs is None or structures_path is None or not Path(structures_path).is_file():
        raise ToolkitError(f"selection.cost_model {sel.cost_model} counts neighbours in the structures: "
                           "it needs data.structures (or data.generate) and the functions' definitions")
    from ..structures import read_structures
    from ..symfuncs.cost import md_costs

    structures = read_structures(structures_path)
    costs = md_costs(exp.data.symfuncs, structures, max_structures=sel.rdf_structures)
    if sel.cost_model == "box":
        from ..symfuncs.cost import box_costs

        costs = box_costs(costs, structures)
    echo(f"MD cost per function ({'per MD step of the box' if sel.cost_model == 'box' else 'neighbour terms per atom'}"
         " / mean radial): " + "; ".join(
        f"{e} {c.min():.2g}-{c.max():.2g}" for e, c in costs.items()))
    return costs


def _cur_pc(exp: Experiment, n_per_element: dict[str, int], sel: SelectionSettings,
            seed: int = 0) -> dict[str, dict]:
    """CUR and Pearson selections per element (indices), sizes ``n_per_element``."""
    selectors = {"cur": CURSelector(n_per_element, n_atoms=sel.cur_atoms, random_state=seed),
                 "pearson": PearsonSelector(n_per_element, sel.pearson_threshold)}
    return {k: selected_columns(selectors[k].fit(exp).support_by_element_) for k in selectors if k in sel.baselines}


def _repeats(exp: Experiment, sets: dict[str, dict[str, list[int]]], st, n_rep: int, out: Path, echo,
             metric: str = "energy") -> dict:
    """Test RMSEs (``metric``) of ``n_rep`` models per set (seeds st.seed + 1 ...).

    Each model is a step (``RUN/repeats/<set>_seed<N>/done.json`` holds its RMSE): a rerun
    trains only the missing ones. ``RUN/repeats.csv`` lists them all.
    """
    rows = []
    for name, keep in sets.items():
        sub = exp.data if all(len(keep[e]) == exp.data.n_features[e] for e in exp.elements) else exp.data.subset_columns(keep)
        sub_exp = copy.copy(exp)
        sub_exp.data = sub
        for r in range(n_rep):
            seed = st.seed + 1 + r
            step = Step(out / "repeats" / f"{name}_seed{seed}", {"set": name, "columns": keep, "seed": seed,
                                                                  "metric": metric})
            rec = step.record()
            if rec is None:
                step.start()
                nets = sub_exp.new_networks(seed=seed)
                train(nets, sub, exp.train, exp.val, st.replace(seed=seed), label=f"{name} seed {seed}")
                ev = evaluate(nets, sub, exp.test, forces=metric == "forces", memory=st.memory_bytes)
                rec = step.finish(test_rmse=ev["rmse_energy"] if metric == "energy" else ev["rmse_forces"])
                echo(f"repeat {name} seed {seed}: test {metric} RMSE {rec['test_rmse']:.4g}")
            rows.append({"set": name, "seed": seed, "test_rmse": rec["test_rmse"]})
    with atomic_write(out / "repeats.csv", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["set", "seed", "test_rmse"])
        w.writeheader()
        w.writerows(rows)
    return {name: [r["test_rmse"] for r in rows if r["set"] == name] for name in sets}


def run_select(cfg: Config, out_dir: str | Path, echo=print) -> Path:
    """The whole selection study (module docstring); returns ``RUN/selected.json``."""
    from ..datagen import generate_data

    sel = cfg.selection
    out = Path(out_dir)
    check_inputs(cfg)
    check_run_dir(cfg, out, record=False)
    generate_data(cfg, out, echo)
    exp, structures_path = prepare_experiment(cfg, out, echo)
    check_run_dir(cfg, out)
    st = cfg.training
    metric = sel.resolved_metric(st.force_weight)
    if st.force_weight > 0:
        echo(f"the path trains on energies and forces (force weight {st.force_weight:g}); the choice compares "
             f"{metric} RMSEs")
    prov = run_provenance(cfg, exp)
    lambdas = sel.lambda_values()
    grid = (f"lambdas {', '.join(f'{l:.3g}' for l in lambdas)}" if lambdas is not None else
            f"{sel.n_lambdas} lambdas from the data (lambda_max x {sel.lambda_ratio:g} to lambda_max)")
    echo(f"{len(exp.train)} training, {len(exp.val)} validation, {len(exp.test)} test structures; "
         f"{exp.data.n_features} candidate functions; {grid}")
    costs = _md_costs(exp, structures_path, sel, echo)
    agl = _selector(sel, st, metric, out, prov, echo, cost=costs)
    fakes_thread = None
    if sel.fakes > 0 and sel.parallel_fakes:
        # the fake-feature path is independent of the main one: run it on a second core meanwhile
        fakes_thread = BackgroundTask(lambda: _fakes(exp, cfg, st, out / "fakes", prov,
                                              lambda m: echo(f"[fakes] {m}"), metric, costs))
    agl.fit(exp, full_networks=_full_model(exp, st, out / "full", prov, save=True))
    write_path_csv(out / "path.csv", agl.path_)
    md_record = _md_check(cfg, exp, structures_path, agl, out, echo, metric)
    chosen = agl.chosen_
    keep_agl = {e: list(chosen["selected_idx"][e]) for e in exp.elements}
    n_per = {e: len(keep_agl[e]) for e in exp.elements}
    echo(f"chosen: lambda {chosen['lambda']:.4g}, {chosen['n_selected']} functions: {'; '.join(chosen['selected'])}")
    sets = {"full": exp.all_columns(), "AGL": keep_agl}
    base = _cur_pc(exp, n_per, sel, seed=st.seed)
    names = {"cur": "CUR", "pearson": "PC"}
    for k, v in base.items():
        sets[names[k]] = v
    result = {"lambda": chosen["lambda"], "lambdas": agl.lambdas_, "lambda_max": agl.lambda_max_,
              "metric": metric, "full_val_rmse": agl.full_val_rmse_,
              "reference_val_rmse": reference_rmse(agl.path_, agl.full_val_rmse_, metric),
              "tolerance": sel.tolerance, "max_features": sel.max_features,
              **({"max_per_element": sel.max_per_element} if sel.max_per_element else {}), "chosen_step": chosen["step"],
              "chosen_model": str(out / "path" / f"step_{chosen['step']:03d}" / "model.pt"), "sets": {}}
    result["md_check"] = md_record
    for k, keep in sets.items():
        result["sets"][k] = {"n": sum(len(v) for v in keep.values()), "indices": keep,
                             "functions": [exp.data.names[e][i] for e in exp.elements for i in keep[e]],
                             "by_element": element_summary(exp, keep, costs)}
    if costs is not None:
        result["md_costs"] = {e: [float(x) for x in c] for e, c in costs.items()}
    # repeats and t-tests
    rep_st = st.replace(epochs=sel.repeat_epochs or st.epochs)
    if sel.repeats > 0:
        if fakes_thread is not None and fakes_thread.done() and st.threads:
            # the fake-feature path has finished: the repeats take its core too
            torch.set_num_threads(2 * int(st.threads))
        rmse = _repeats(exp, sets, rep_st, sel.repeats, out, echo, metric)
        result["test_rmse"] = {k: summarize(v) for k, v in rmse.items()}
        result["ttests"] = pairwise_ttests(rmse)
        plots.plot_boxplot(rmse, out / "test_rmse_boxplot.png",
                           ylabel="test " + metric_label(metric, exp.elements).replace(" per component", ""))
    # fakes
    # columns element by element, each element's fakes after its functions (the fake data's order)
    n_fk = sel.fakes if sel.fakes > 0 else 0
    multi = len(exp.elements) > 1
    matrix = {k: np.concatenate([np.concatenate([np.isin(np.arange(exp.data.n_features[e]), sets[k][e]),
                                                 np.zeros(n_fk, bool)]) for e in exp.elements])
              for k in sets if k != "full"}
    labels = [lab for e in exp.elements for lab in
              [plots.short_label(exp.data.symfuncs[e][i] if exp.data.symfuncs else None, exp.data.names[e][i])
               for i in range(exp.data.n_features[e])] + [f"{e + ' ' if multi else ''}fake {k + 1}" for k in range(n_fk)]]
    if n_fk:
        fk = fakes_thread.join() if fakes_thread else _fakes(exp, cfg, st, out / "fakes", prov, echo, metric, costs)
        result["fakes"] = fk["summary"]
        for k, v in fk["masks"].items():
            matrix[f"{k} + fakes"] = v
    plots.plot_selection_matrix(matrix, labels, out / "selection_matrix.png",
                                groups=column_groups(exp, n_fk) if multi else None)
    plots.plot_rmse_vs_n(agl.path_, agl.full_val_rmse_, out / "rmse_vs_n.png", chosen,
                          tolerance=sel.tolerance, max_features=sel.max_features, metric=metric,
                          elements=exp.elements)
    _rdf_plot(exp, structures_path, agl.support_by_element_, sel.rdf_structures, out, echo)
    write_json(out / "selected.json", result)
    echo(f"wrote {out / 'selected.json'}")
    return out / "selected.json"


def _md_check(cfg: Config, exp: Experiment, structures_path, agl: AdaptiveGroupLasso, out: Path, echo,
              metric: str) -> dict:
    """The MD check of the path's top sets (:mod:`toolkit.lammps.mdcheck`); replaces ``agl``'s choice by the
    first set that passes and returns the record for ``selected.json`` (or why the check was skipped)."""
    sel = cfg.selection
    if sel.md_check is False:
        return {"skipped": "selection.md_check: false"}
    from ..lammps.mdcheck import MDCheckSettings, check_path, md_check_available

    why_not = md_check_available(exp.elements)
    if why_not is not None:
        if sel.md_check is True:
            raise ToolkitError(f"{cfg.source or 'config'}: 'selection.md_check: true' but the MD check cannot "
                               f"run: {why_not}")
        echo(f"MD check skipped: {why_not}")
        return {"skipped": why_not}
    from ..lammps.guard import data_min_distance

    d_min = data_min_distance(structures_path, cfg.symfuncs.rc)  # the MD samples' (rattled copies skipped)
    counts = {e: float(np.sum(exp.data.counts[e])) for e in exp.elements}
    settings = MDCheckSettings(candidates=sel.md_check_candidates, runs=sel.md_check_runs,
                               temperature=sel.md_check_temperature,
                               measurement=sel.md_check_measurement, distance_margin=sel.md_check_distance_margin,
                               max_ew_rate=sel.md_check_max_ew_rate,
                               composition=tuple(counts.items()) if len(counts) > 1 else None)  # the data's
    echo(f"MD check of the top {settings.candidates} sets (data's shortest distance {d_min:.4g})")
    ranked = ranked_steps(agl.path_, agl.full_val_rmse_, agl.max_features, agl.tolerance, metric,
                          settings.candidates, agl.max_per_element)
    chosen, record = check_path(ranked, lambda r: out / "path" / f"step_{r['step']:03d}" / "model.pt", exp.elements,
                                d_min, out / "md_check", settings, seed=cfg.training.seed, echo=echo)
    if chosen["step"] != agl.chosen_["step"]:  # the rule's choice failed in MD: the estimator holds the one that passed
        agl.chosen_, agl.lambda_ = chosen, chosen["lambda"]
        agl._set_support(exp, {e: list(chosen["selected_idx"][e]) for e in exp.elements})
        norms = chosen.get("group_norms")
        agl.coef_ = (np.concatenate([np.asarray(norms[e], dtype=float) for e in exp.elements]) if norms
                     else agl.support_.astype(float))
        agl.networks_, agl.model_ = None, None  # its refit is RUN/path/step_NNN/model.pt
    return record


def _fakes(exp: Experiment, cfg: Config, st, out: Path, prov, echo, metric: str = "energy", costs=None) -> dict:
    sel = cfg.selection
    m = cfg.model
    data_f = make_fakes(exp.data, exp.raw_stats, sel.fakes, exp.train, m.scaling, m.scale_min, m.scale_max,
                        seed=sel.fakes_seed)
    exp_f = copy.copy(exp)
    exp_f.data = data_f
    echo(f"fake-feature experiment: {sel.fakes} fakes per element added")
    agl = _selector(sel, st, metric, out, prov, echo, save_models=False, cost=costs)
    agl.fit(exp_f, full_networks=_full_model(exp_f, st, out / "full", prov, save=False))
    write_path_csv(out / "path.csv", agl.path_)
    keep = {e: list(agl.chosen_["selected_idx"][e]) for e in exp.elements}
    n_per = {e: len(keep[e]) for e in exp.elements}
    base = _cur_pc(exp_f, n_per, sel, seed=st.seed)
    sets = {"AGL": keep, **{{"cur": "CUR", "pearson": "PC"}[k]: v for k, v in base.items()}}
    summary, masks = {"n_fakes": sel.fakes, "lambda": agl.chosen_["lambda"]}, {}
    for k, v in sets.items():
        names = [data_f.names[e][i] for e in exp.elements for i in v[e]]
        summary[k] = {"n": len(names), "fakes_kept": sum(is_fake(n) for n in names), "functions": names}
        masks[k] = np.concatenate([np.isin(np.arange(data_f.n_features[e]), v[e]) for e in exp.elements])
    # fakes kept along the whole AGL path
    summary["AGL_path_fakes_kept"] = [{"lambda": r["lambda"], "n_selected": r["n_selected"],
                                       "fakes_kept": sum(is_fake(n) for n in r["selected"])} for r in agl.path_]
    # CUR and PC on the augmented data at every set size of the path (they are cheap)
    by_size = []
    for n in sorted({r["n_selected"] for r in agl.path_ if r["n_selected"] > 0}):
        if len(exp.elements) > 1:
            break
        e = exp.elements[0]
        row = {"n": n}
        for k, v in _cur_pc(exp_f, {e: n}, sel, seed=st.seed).items():
            row[{"cur": "CUR", "pearson": "PC"}[k] + "_fakes_kept"] = sum(is_fake(data_f.names[e][i]) for i in v[e])
        by_size.append(row)
    summary["baselines_fakes_kept_by_size"] = by_size
    write_json(out / "fakes.json", summary)
    echo("fakes kept: " + ", ".join(f"{k} {summary[k]['fakes_kept']}/{summary[k]['n']}" for k in sets))
    return {"summary": summary, "masks": masks}


def _rdf_plot(exp: Experiment, structures_path, support: dict, n_struct: int, out: Path, echo) -> None:
    if exp.data.symfuncs is None:
        return
    g = r = None
    if structures_path is not None and Path(structures_path).is_file():
        from ..structures import read_structures

        structs = read_structures(structures_path)
        rc = max(sf.rc for e in exp.elements for sf in exp.data.symfuncs[e] if sf is not None)
        r, g = rdf(structs, rc, max_structures=n_struct)
    else:
        echo("no structure file: the radial-function plot has no g(r)")
    for e in exp.elements:
        name = "radial_rdf.png" if len(exp.elements) == 1 else f"radial_rdf_{e}.png"
        plots.plot_radial_rdf(exp.data.symfuncs[e], support[e], r if r is not None else np.zeros(0),
                              g, out / name, length_unit=data_units(exp.elements)[1])
