"""The adaptive-group-lasso path and the comparison of feature sets (``hdnnp select``).

For each lambda (ascending, log-spaced):

1. **GL**: group lasso, warm-started from the previous lambda's GL solution
   (the first from the full unpenalised model); proximal steps make groups
   exactly zero.
2. **AGL**: adaptive weights ``a_i = 1 / ||w_i^GL||^gamma`` (GL-zero groups
   frozen at zero), training continued from the GL solution.
3. **Refit**: the AGL-zero groups frozen at zero, training continued without
   penalty (``selection.refit_optimizer``: AdamW, or full-batch L-BFGS, which
   converges much further from this warm start). The refit network on the selected functions is saved as
   ``path/step_NNN/model.pt``.

With ``angular_cost`` c != 1 the GL and AGL stages weight each angular function's group
by c (a cost-weighted group lasso, ``c_i a_i ||w_i||``): an angular function
costs far more MD time than a radial one (triplets against pairs), so it must
buy c times as much accuracy to stay. c = 1 is the method of Sandberg et al.

The AGL and the refit train networks restricted to their live columns (a frozen
column is exactly zero and stays so: the same numbers as the masked full
network up to round-off, ``tests/test_selection.py``), so their cost is that of
the active functions, not of all candidates.

Every finished lambda writes ``path/step_NNN/result.json`` (atomic), so an
interrupted run resumes after the last finished lambda; within a lambda each
stage checkpoints (``ckpt_gl.pt``, ...) and resumes too.

The chosen set (:func:`choose_step`) compares validation RMSEs of one *metric*:
energies (per atom) or, when the path trains on forces, force components
(``selection.metric``). The reference error is the lower of the
full model's validation RMSE and the best refit validation RMSE on the path.
Among the lambdas whose set has at most ``max_features`` functions (and at
most ``max_per_element`` for each element, when given) and whose
refit validation RMSE is at most ``tolerance`` times the reference, the
smallest set (ties: lower RMSE); else the best RMSE among sets of at most
``max_features``; else the smallest set. (Measuring against the best refit,
not only the full model, keeps the rule meaningful when the full model is the
hardest to train, as with many collinear candidates.)

``selection.refine`` bisects the grid where the rule's answer could improve
(:func:`refine_bracket`): after the grid, up to ``refine`` more lambdas, each
the geometric mean of the bracket's two, warm-started from the lower one's
group-lasso solution; their steps are numbered after the grid's.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ToolkitError
from ..fileio import atomic_path, atomic_write, read_json, write_json
from ..training.experiment import Experiment
from ..settings import SelectionSettings, TrainSettings
from ..training.memory import DEFAULT_MEMORY
from ..training.trainer import evaluate, train
from .agl import GroupPenalty, adaptive_weights, group_norms


#: metric -> (record field of the penalised, refit validation, refit test RMSE; unit label)
METRICS = {
    "energy": ("val_rmse_penalized", "val_rmse_refit", "test_rmse_refit", "energy RMSE per atom (epsilon)"),
    "forces": ("val_rmse_forces_penalized", "val_rmse_forces_refit", "test_rmse_forces_refit",
               "force RMSE per component (epsilon/sigma)"),
}


def data_units(elements) -> tuple[str, str]:
    """``(energy, length)`` unit names of a data set's numbers: LJ reduced units (epsilon, sigma) for the
    toolkit's Lennard-Jones stand-in element Ar, else eV and Angstrom (n2p2's and LAMMPS metal units)."""
    return ("epsilon", "sigma") if list(elements) == ["Ar"] else ("eV", "Angstrom")


def metric_label(metric: str, elements=("Ar",)) -> str:
    """``"energy RMSE per atom (eV)"``, ``"force RMSE per component (eV/Angstrom)"``: in the data's units."""
    energy, length = data_units(elements)
    if metric == "energy":
        return f"energy RMSE per atom ({energy})"
    return f"force RMSE per component ({energy}/{length})"


def metric_key(metric: str, which: str = "refit") -> str:
    """The record field of the error the choice compares (``which``: penalized, refit or test)."""
    if metric not in METRICS:
        raise ToolkitError(f"selection metric {metric!r}: use 'energy' or 'forces'")
    return METRICS[metric][("penalized", "refit", "test").index(which)]


_REFIT_KEYS = ("val_rmse_refit", "test_rmse_refit", "val_rmse_forces_refit", "test_rmse_forces_refit")


def errors(nets: nn.ModuleDict, data, idx, forces: bool, memory: float = DEFAULT_MEMORY) -> tuple[float, float]:
    """(energy RMSE per atom, force RMSE or nan) of ``nets`` on the structures ``idx`` of ``data`` (a
    FeatureData, or an Experiment: its data), physical units; batches that fit in ``memory`` bytes
    (``training.memory``)."""
    if len(idx) == 0:
        return float("nan"), float("nan")
    data = data.data if isinstance(data, Experiment) else data
    ev = evaluate(nets, data, idx, forces=forces, memory=memory)
    return ev["rmse_energy"], ev.get("rmse_forces", float("nan"))


def _names(exp: Experiment, keep: dict[str, Sequence[int]]) -> list[str]:
    return [f"{e}:{exp.data.names[e][i]}" if len(exp.elements) > 1 else exp.data.names[e][i]
            for e in exp.elements for i in keep[e]]


def group_costs(exp: Experiment, angular_cost: float = 1.0,
                measured: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Each column's group penalty weight per element: ``measured[e]`` (MD costs,
    :func:`toolkit.symfuncs.cost.md_costs`; columns beyond them, fake features,
    cost the element's median) or, without, ``angular_cost`` for angular functions and 1 else."""
    out = {}
    for e in exp.elements:
        n = exp.data.n_features[e]
        if measured is not None:
            c = np.asarray(measured[e], float)[:n]
            out[e] = np.concatenate([c, np.full(n - len(c), float(np.median(c)) if len(c) else 1.0)])
        else:
            out[e] = np.array([angular_cost if _is_angular(exp, e, i) else 1.0 for i in range(n)])
    return out


def _is_angular(exp: Experiment, e: str, i: int) -> bool:
    sfs = exp.data.symfuncs[e] if exp.data.symfuncs else None
    if sfs is None or sfs[i] is None:
        return False
    return bool(sfs[i].is_angular)


def _restricted(nets: nn.ModuleDict, keep: dict[str, list[int]]) -> nn.ModuleDict:
    """A copy of ``nets`` whose input layers keep only the columns ``keep``."""
    return nn.ModuleDict({e: net.select_inputs(keep[e]) for e, net in nets.items()})


def _in(step: Path | None, name: str) -> Path | None:
    """A checkpoint file of a path step (None when the path writes nothing)."""
    return step / name if step is not None else None


def full_model(exp: Experiment, train_settings: TrainSettings, directory: Path | None = None):
    """The unpenalised model on all columns (the path's start): ``(networks, TrainResult or None)``.

    With ``directory``: a :class:`toolkit.steps.Step` there, checkpointed (``checkpoint.pt``) and
    kept as ``networks.pt``; a later call with the same settings and data reads it back (the
    result is then None).
    """
    nets = exp.new_networks(seed=train_settings.seed)
    if directory is None:
        return nets, train(nets, exp.data, exp.train, exp.val, train_settings, label="full model")
    from ..steps import Step

    step = Step(directory, {"full_model": train_settings.results_dict(), "functions": exp.data.names,
                            "split": [len(exp.train), len(exp.val), len(exp.test)]})
    if step.record() is not None:
        nets.load_state_dict(torch.load(step.dir / "networks.pt", map_location="cpu", weights_only=True))
        return nets, None
    step.start()
    r = train(nets, exp.data, exp.train, exp.val, train_settings, checkpoint=step.dir / "checkpoint.pt",
              label="full model")
    with atomic_path(step.dir / "networks.pt") as tmp:
        torch.save({k: v.cpu() for k, v in nets.state_dict().items()}, tmp)
    step.finish([step.dir / "networks.pt"])
    return nets, r


def run_path(exp: Experiment, full_nets: nn.ModuleDict, full_val_rmse: float, settings: SelectionSettings,
             train_settings: TrainSettings, out_dir: Path | None, save_models: bool = True,
             provenance: dict | None = None, echo: Callable[[str], None] | None = None,
             on_refit: Callable[[dict, nn.ModuleDict], None] | None = None,
             cost: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Run (or resume) the AGL path over ``settings.lambda_values()``; one record per lambda (module docstring).

    ``cost[e]``: each function's group penalty weight for element e (default: the
    ``angular_cost`` rule, :func:`group_costs`).

    ``out_dir`` None: nothing is written (no checkpoints, no resume, no models).
    ``on_refit(record, networks)``: called with each step's refit networks restricted to its
    selected columns (also for steps read back from ``out_dir``).
    """
    path_dir = Path(out_dir) / "path" if out_dir is not None else None
    if path_dir is not None:
        path_dir.mkdir(parents=True, exist_ok=True)
    run = _PathRun(exp, settings, train_settings, full_val_rmse, save_models and path_dir is not None, provenance,
                   echo or logging.getLogger("toolkit.selection").info, on_refit, cost)
    records: list[dict] = []
    warm = copy.deepcopy(full_nets)
    gl_solutions: dict[int, nn.ModuleDict] = {}  # step -> its GL solution, the warm start of a refinement

    def one(k: int, lam: float, warm: nn.ModuleDict) -> tuple[dict, nn.ModuleDict]:
        step = path_dir / f"step_{k:03d}" if path_dir is not None else None
        rec = run.resume(step, lam, warm, full_nets)
        if rec is None:
            rec, warm = run.step(k, lam, warm, step)
        gl_solutions[k] = copy.deepcopy(warm)
        return rec, warm

    grid = sorted(float(l) for l in settings.lambda_values())
    for k, lam in enumerate(grid):
        rec, warm = one(k, lam, warm)
        records.append(rec)
        if rec["n_selected"] == 0 or _past_the_choice(records, rec, full_val_rmse, settings, run.metric):
            break
    for k in range(len(grid), len(grid) + settings.refine):
        bracket = refine_bracket(records, full_val_rmse, settings, run.metric)
        if bracket is None:
            break
        lo, hi = bracket
        lam = math.sqrt(lo["lambda"] * hi["lambda"])
        run.echo(f"refining the grid between lambda {lo['lambda']:.4g} ({lo['n_selected']} functions) and "
                 f"{hi['lambda']:.4g} ({hi['n_selected']}): lambda {lam:.4g}")
        rec, _ = one(k, lam, copy.deepcopy(gl_solutions[lo["step"]]))
        records = sorted(records + [rec], key=lambda r: r["lambda"])
    return records


def refine_bracket(records: Sequence[dict], full_val_rmse: float, settings: SelectionSettings,
                   metric: str) -> tuple[dict, dict] | None:
    """The two neighbouring lambdas of the path between which the choice rule's answer could improve, or None.

    When the choice is within tolerance, a smaller set may lie between it and the next larger lambda;
    when no small-enough set is (the choice is the best of those small enough), a larger but still
    allowed, more accurate set may lie between it and the next smaller lambda, whose set is too large.
    A coarse grid jumps over both (e.g. 55 functions with one element over ``max_per_element``, then
    41): ``selection.refine`` bisects the bracket in log lambda, warm-started like the grid.
    """
    recs = sorted(records, key=lambda r: r["lambda"])
    ok = [r for r in recs if r["n_selected"] > 0 and np.isfinite(r.get(metric_key(metric), np.nan))]
    if not ok:
        return None
    chosen = choose_step(recs, full_val_rmse, settings.max_features, settings.tolerance, metric,
                         settings.max_per_element)
    i = next(j for j, r in enumerate(recs) if r is chosen)
    small = _small_enough(chosen, settings.max_features, settings.max_per_element)
    good = small and chosen[metric_key(metric)] <= settings.tolerance * reference_rmse(recs, full_val_rmse, metric)
    if good:
        pair = (chosen, recs[i + 1]) if i + 1 < len(recs) else None
    elif small and i > 0 and not _small_enough(recs[i - 1], settings.max_features, settings.max_per_element):
        pair = (recs[i - 1], chosen)
    else:
        return None
    if pair is None or pair[0]["n_selected"] - pair[1]["n_selected"] <= 1:
        return None  # nothing left between them
    return pair


def _past_the_choice(records: list[dict], rec: dict, full_val_rmse: float, settings: SelectionSettings,
                     metric: str) -> bool:
    """``selection.stop_ratio``: ``rec``'s set is small enough to choose but its refit error is beyond
    ``stop_ratio`` x the reference, so larger lambdas (smaller, worse sets) cannot change the choice."""
    if settings.stop_ratio is None or not _small_enough(rec, settings.max_features, settings.max_per_element):
        return False
    err = rec.get(metric_key(metric), float("nan"))
    return bool(np.isfinite(err) and err > settings.stop_ratio * reference_rmse(records, full_val_rmse, metric))


class _PathRun:
    """One lambda of the path at a time: group lasso, adaptive group lasso, refit (module docstring)."""

    def __init__(self, exp: Experiment, settings: SelectionSettings, st: TrainSettings, full_val_rmse: float,
                 save_models: bool, provenance: dict | None, echo, on_refit, cost=None):
        self.exp, self.settings, self.full_val_rmse = exp, settings, full_val_rmse
        self.save_models, self.provenance, self.echo, self.on_refit = save_models, provenance, echo, on_refit
        self.forces, self.memory = st.force_weight > 0, st.memory_bytes
        self.metric = settings.resolved_metric(st.force_weight)
        metric_key(self.metric)
        if self.metric == "forces" and not self.forces:
            raise ToolkitError("selection metric 'forces' needs force training (training.force_weight > 0)")
        # cost-weighted groups: an angular function (triplets) costs more MD time than a radial one (pairs)
        self.cost = cost if cost is not None else group_costs(exp, settings.angular_cost)
        self.gl_weights = None if all(np.all(c == 1.0) for c in self.cost.values()) else self.cost
        # the lasso stages take proximal steps after minibatch AdamW steps, whatever the refits use
        self.st_gl = st.replace(epochs=settings.gl_epochs or st.epochs, optimizer="adam")
        self.st_agl = st.replace(epochs=settings.agl_epochs or st.epochs, optimizer="adam")
        self.st_ref = st.replace(epochs=settings.refit_epochs or st.epochs)
        if settings.refit_optimizer is not None and settings.refit_optimizer != st.optimizer:
            # L-BFGS takes unit steps (its line search scales them); AdamW the training learning rate
            self.st_ref = self.st_ref.replace(optimizer=settings.refit_optimizer,
                                              lr=1.0 if settings.refit_optimizer == "lbfgs" else self.st_ref.lr)

    def resume(self, step: Path | None, lam: float, warm: nn.ModuleDict, full_nets: nn.ModuleDict) -> dict | None:
        """The record of a lambda finished before (``warm`` loaded with its GL solution), or None."""
        if step is None or not (step / "result.json").is_file() or not (step / "gl_state.pt").is_file():
            return None
        rec = read_json(step / "result.json")
        if not math.isclose(rec["lambda"], lam, rel_tol=1e-9):
            raise ToolkitError(f"{step / 'result.json'}: lambda {rec['lambda']} differs from the configured "
                               f"{lam}: use a new output folder for a different path")
        warm.load_state_dict(torch.load(step / "gl_state.pt", map_location="cpu", weights_only=True))
        if self.on_refit is not None and (step / "refit_networks.pt").is_file():
            small = _restricted(full_nets, rec["selected_idx"])
            small.load_state_dict(torch.load(step / "refit_networks.pt", map_location="cpu", weights_only=True))
            self.on_refit(rec, small)
        self.echo(f"lambda {lam:.4g}: done before ({rec['n_selected']} functions), skipped")
        return rec

    def step(self, k: int, lam: float, warm: nn.ModuleDict, step: Path | None) -> tuple[dict, nn.ModuleDict]:
        """GL from ``warm``, AGL, refit at ``lam``: (the record, the GL solution: the next warm start)."""
        exp, n_train = self.exp, len(self.exp.train)
        if step is not None:
            step.mkdir(parents=True, exist_ok=True)
        nets = copy.deepcopy(warm)
        r_gl = train(nets, exp.data, exp.train, exp.val, self.st_gl,
                     penalty=GroupPenalty(lam, n_train, self.gl_weights, self.settings.prox),
                     checkpoint=_in(step, "ckpt_gl.pt"), label=f"GL  lambda={lam:.3g}")
        if step is not None:
            with atomic_path(step / "gl_state.pt") as tmp:
                torch.save({k_: v.cpu() for k_, v in nets.state_dict().items()}, tmp)
        warm = copy.deepcopy(nets)
        norms_gl = {e: group_norms(nets[e].input_layer.weight.detach()).cpu().numpy() for e in exp.elements}
        n_gl = int(sum((v > 0).sum() for v in norms_gl.values()))
        rec = {"step": k, "lambda": lam, "n_selected_gl": n_gl, "gl_epochs": r_gl.best_epoch}
        if n_gl == 0:
            rec.update({"n_selected": 0, "n_angular": 0, "selected": [], "selected_idx": {e: [] for e in exp.elements},
                        **{k_: float("nan") for k_ in ("val_rmse_penalized", "val_rmse_forces_penalized") + _REFIT_KEYS}})
        else:
            weights = {e: adaptive_weights(norms_gl[e], self.settings.gamma) * self.cost[e] for e in exp.elements}
            self.adaptive(rec, lam, nets, weights, step)
        rec["full_val_rmse"] = self.full_val_rmse
        if step is not None:
            write_json(step / "result.json", rec)
            for name in ("ckpt_gl.pt", "ckpt_agl.pt", "ckpt_refit.pt"):
                (step / name).unlink(missing_ok=True)
        self.echo(f"lambda {lam:.4g}: GL {n_gl}, AGL {rec['n_selected']} functions, validation {self.metric} RMSE "
                  f"{rec[metric_key(self.metric, 'penalized')]:.4g} -> refit {rec[metric_key(self.metric)]:.4g} "
                  f"(full {self.full_val_rmse:.4g})")
        return rec, warm

    def adaptive(self, rec: dict, lam: float, nets: nn.ModuleDict, weights: dict[str, np.ndarray],
                 step: Path | None) -> None:
        """AGL from the GL solution ``nets``, then the refit; into ``rec``.

        Both stages train only the columns they can change: the GL-zero groups are frozen
        at zero in the AGL (infinite weights), the AGL-zero groups in the refit, and a
        frozen column contributes nothing to energies, forces or (elementwise or
        dot-product) optimiser steps. Dropping them gives the numbers of the masked full
        network up to round-off, at the cost of the active columns only.
        """
        exp, n_train = self.exp, len(self.exp.train)
        live = {e: [int(i) for i in np.flatnonzero(np.isfinite(weights[e]))] for e in exp.elements}
        data = exp.data.subset_columns(live)
        sub = _restricted(nets, live)
        r_agl = train(sub, data, exp.train, exp.val, self.st_agl,
                      penalty=GroupPenalty(lam, n_train, {e: weights[e][live[e]] for e in exp.elements},
                                           self.settings.prox),
                      checkpoint=_in(step, "ckpt_agl.pt"), label=f"AGL lambda={lam:.3g}")
        norms = {e: torch.zeros(exp.data.n_features[e], dtype=torch.float64) for e in exp.elements}
        for e in exp.elements:
            norms[e][live[e]] = group_norms(sub[e].input_layer.weight.detach()).cpu().to(torch.float64)
        keep = {e: [int(i) for i in torch.nonzero(norms[e] > 0).flatten().tolist()] for e in exp.elements}
        val_pen, val_pen_f = errors(sub, data, exp.val, self.forces, self.memory)
        rec.update({"agl_epochs": r_agl.best_epoch, "n_selected": sum(len(v) for v in keep.values()),
                    "n_angular": sum(_is_angular(exp, e, i) for e in exp.elements for i in keep[e]),
                    "val_rmse_penalized": val_pen, "val_rmse_forces_penalized": val_pen_f,
                    "selected": _names(exp, keep), "selected_idx": keep,
                    "group_norms": {e: [float(x) for x in norms[e].tolist()] for e in exp.elements}})
        if rec["n_selected"] == 0 or any(len(v) == 0 for v in keep.values()):
            rec.update({k_: float("nan") for k_ in _REFIT_KEYS})
            return
        pos = {e: {c: j for j, c in enumerate(live[e])} for e in exp.elements}
        self.refit(rec, _restricted(sub, {e: [pos[e][i] for i in keep[e]] for e in exp.elements}), step)

    def refit(self, rec: dict, small: nn.ModuleDict, step: Path | None) -> None:
        """``small`` (networks on the selected columns, from the AGL) trained without penalty; errors into ``rec``."""
        from ..potential import save_model

        exp, lam, keep = self.exp, rec["lambda"], rec["selected_idx"]
        data = exp.data.subset_columns(keep)
        r_ref = train(small, data, exp.train, exp.val, self.st_ref, checkpoint=_in(step, "ckpt_refit.pt"),
                      label=f"refit lambda={lam:.3g}")
        rec["refit_epochs"] = r_ref.best_epoch
        rec["val_rmse_refit"], rec["val_rmse_forces_refit"] = errors(small, data, exp.val, self.forces, self.memory)
        rec["test_rmse_refit"], rec["test_rmse_forces_refit"] = errors(small, data, exp.test, self.forces, self.memory)
        if step is not None:
            with atomic_path(step / "refit_networks.pt") as tmp:
                torch.save({k_: v.cpu() for k_, v in small.state_dict().items()}, tmp)
        if self.on_refit is not None:
            self.on_refit(rec, small)
        if self.save_models:
            try:
                save_model(exp.to_model(small, keep), step / "model.pt", provenance=self.provenance,
                           extra={"lambda": lam, "selected": rec["selected"],
                                  "val_rmse": rec["val_rmse_refit"], "test_rmse": rec["test_rmse_refit"]})
            except ToolkitError:
                pass  # fake columns: no potential


def reference_rmse(records: list[dict], full_val_rmse: float, metric: str = "energy") -> float:
    """The error the choice is measured against: min(full model, best refit on the path)."""
    key = metric_key(metric)
    refits = [r[key] for r in records if r.get("n_selected", 0) > 0 and np.isfinite(r.get(key, np.nan))]
    return float(min([full_val_rmse] + refits)) if np.isfinite(full_val_rmse) else float(min(refits, default=np.inf))


def _small_enough(r: dict, max_features: int, max_per_element: int | None) -> bool:
    if r["n_selected"] > max_features:
        return False
    return max_per_element is None or all(len(v) <= max_per_element for v in r.get("selected_idx", {}).values())


def choose_step(records: list[dict], full_val_rmse: float, max_features: int, tolerance: float,
                metric: str = "energy", max_per_element: int | None = None) -> dict:
    """The chosen lambda's record (rule in the module docstring); ``full_val_rmse`` in the same metric.

    ``max_per_element``: a set is small enough only if no element keeps more functions than this.
    """
    key = metric_key(metric)
    ok = [r for r in records if r["n_selected"] > 0 and np.isfinite(r.get(key, np.nan))]
    if not ok:
        raise ToolkitError("the path selected no usable feature set: lower the lambdas")
    small = [r for r in ok if _small_enough(r, max_features, max_per_element)]
    good = [r for r in small if r[key] <= tolerance * reference_rmse(records, full_val_rmse, metric)]
    if good:
        return min(good, key=lambda r: (r["n_selected"], r[key]))
    if small:
        return min(small, key=lambda r: r[key])
    return min(ok, key=lambda r: (r["n_selected"], r[key]))


def ranked_steps(records: Sequence[dict], full_val_rmse: float, max_features: int, tolerance: float,
                 metric: str, n: int, max_per_element: int | None = None) -> list[dict]:
    """Up to ``n`` path records with distinct sets, in the order the choice rule prefers them."""
    left, out, seen = list(records), [], set()
    while left and len(out) < n:
        try:
            best = choose_step(left, full_val_rmse, max_features, tolerance, metric, max_per_element)
        except ToolkitError:
            break
        left = [r for r in left if r is not best]
        key = tuple(sorted(best["selected"]))
        if key not in seen:
            seen.add(key)
            out.append(best)
    return out


def write_path_csv(path: Path, records: list[dict]) -> None:
    """One row per lambda: set size, validation RMSEs (energy, and forces if trained), functions."""
    errs = ["val_rmse_penalized", "val_rmse_refit", "test_rmse_refit"]
    if any(np.isfinite(r.get("val_rmse_forces_refit", np.nan)) for r in records):
        errs += ["val_rmse_forces_penalized", "val_rmse_forces_refit", "test_rmse_forces_refit"]
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lambda", "n_selected", "n_angular"] + errs + ["selected"])
        for r in records:
            w.writerow([f"{r['lambda']:.6g}", r["n_selected"], r["n_angular"]]
                       + [f"{r.get(k, float('nan')):.6g}" for k in errs] + [";".join(r["selected"])])
