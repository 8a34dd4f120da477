"""``hdnnp demo``: from nothing to an Arrhenius plot on the built-in Lennard-Jones system.

Steps (each in its own folder of ``DEMO/`` with a ``done.json`` marker):

====  ===========  =============================================================  =================================
step  folder       what                                                           library function
====  ===========  =============================================================  =================================
1     data/        LJ reference data from LAMMPS (``lj/cut 2.8``, NVT)           :func:`toolkit.lammps.generate.generate`
2     features/    the 22 candidate functions (12 radial, 10 angular, rc 2.8)    :func:`toolkit.training.pipeline.resolve_data`
3     select/      AGL path (+ 10 fakes), CUR, Pearson, repeats and t-tests      :func:`toolkit.selection.pipeline.run_select`
4     potentials/  selected and full potential as n2p2 files                     :func:`toolkit.export.export_n2p2`
5     md/          melt-and-quench: selected, full, exact ``lj/cut``             :func:`toolkit.lammps.quench.quench`
6     analysis/    D from the MSD, Arrhenius fits, RDFs, against ``lj/cut``      :func:`toolkit.lammps.analysis.analyze`
7     bench/       LAMMPS timesteps/s of the three potentials                    :func:`toolkit.lammps.bench.bench`
8     report/      ``DEMO/report.html`` (+ ``report.json``), PASS/FAIL table     :func:`toolkit.report.write_report`
====  ===========  =============================================================  =================================

Reuse: a step is skipped when its ``done.json`` exists, names outputs that all
exist, and records the same *key* (a hash of the step's settings and of the
keys of the steps it depends on). A step whose settings changed is redone
from scratch (its folder is emptied first); a step that was interrupted is
resumed by the library function it calls (they all resume). The marker is
written atomically, after the outputs.

Sizes: :data:`DEFAULT_SIZES` fit in about 20 minutes on 2 cores;
:data:`FULL_SIZES` are the reference study's (hours). ``sizes`` overrides
single fields (see :class:`DemoSizes`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

from .background import BackgroundTask
from .errors import ToolkitError
from .fileio import read_json, write_json
from .demo_al import AL_CRITERIA, AL_DEFAULT, AL_FULL
from .demo_multi import CANDIDATES, COST_MODEL, CUZR_CRITERIA, CUZR_DEFAULT, CUZR_FULL, SI_CRITERIA, SI_DEFAULT, SI_FULL
from .settings import DemoSizes
from .steps import Step

#: What the default run must show (the report computes PASS/FAIL from the artefacts).
CRITERIA = {
    "max_selected": 8,          # functions in the selected set
    "max_fakes": 0,             # fake features kept by the AGL in the fake-feature experiment
    "d_ratio_tol": 0.10,        # |D_selected / D_lj - 1| at every quench temperature
    "rdf_peak_tol": 0.05,       # |first-peak height and position / lj - 1|
    "min_speedup": 1.5,         # timesteps/s selected / full
}

STEPS = ("data", "features", "select", "potentials", "md", "analysis", "bench", "report")
TITLES = {
    "data": "reference data (LAMMPS)",
    "features": "candidate symmetry functions",
    "select": "adaptive-group-lasso path, CUR, Pearson, repeats",
    "potentials": "export to n2p2",
    "md": "melt-and-quench MD (selected, full, reference)",
    "analysis": "diffusion, Arrhenius, RDF",
    "bench": "LAMMPS speed",
    "report": "report",
}


DEFAULT_SIZES = DemoSizes()

#: The reference study's sizes: 28,000 configurations of 256 atoms on 7 temperatures x 3 densities
#: (the selection on 1,000 of them with forces: their SF derivatives take ~5 GB, read from disk),
#: 10 lambdas, 10 seeds, 10 MD runs of 1,000 tau per temperature for every potential.
FULL_SIZES = DemoSizes(
    configs=28000, cells=(4, 4, 4), data_temperatures=(0.5, 0.667, 0.833, 1.0, 1.167, 1.333, 1.5),
    data_densities=(0.9, 1.0, 1.1), epochs=1000, patience=1000, lr=0.01, batch_size=64,
    lambdas=(150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 475.0, 550.0, 700.0, 1000.0), gl_epochs=300, agl_epochs=300,
    refit_epochs=20, repeats=10, repeat_epochs=1000, threads=0, select_structures=1000, force_epochs=100,
    md_temperatures=(1.5, 1.3, 1.1, 0.9, 0.7), melt_time=10.0, equilibration=30.0, measurement=1000.0,
    traj_every=1.0, runs_selected=10, runs_reference=10, runs_full=10, full_md_temperatures=(1.5, 1.3, 1.1, 0.9, 0.7),
    full_melt_time=10.0, full_equilibration=30.0, full_measurement=1000.0, bench_steps=2000,
    bench_full_steps=200, bench_repeats=5,
)


#: system -> the report's PASS/FAIL limits
SYSTEM_CRITERIA = {"lj": CRITERIA, "al-eam": AL_CRITERIA, "si-sw": SI_CRITERIA, "cuzr-eam": CUZR_CRITERIA}

#: system -> preset name -> sizes (``hdnnp demo --full`` takes "full")
PRESETS: dict[str, dict[str, DemoSizes]] = {"lj": {"default": DEFAULT_SIZES, "full": FULL_SIZES},
                                             "al-eam": {"default": AL_DEFAULT, "full": AL_FULL},
                                             "si-sw": {"default": SI_DEFAULT, "full": SI_FULL},
                                             "cuzr-eam": {"default": CUZR_DEFAULT, "full": CUZR_FULL}}


def make_sizes(full: bool = False, sizes: DemoSizes | dict | None = None, system: str = "lj") -> DemoSizes:
    """The preset of ``system`` (default or ``full``) with the fields of ``sizes`` replaced (validated)."""
    from .lammps.systems import get_system

    try:
        system = get_system(system).name  # aliases: al -> al-eam
    except ToolkitError:
        pass
    if system not in PRESETS:
        raise ToolkitError(f"demo: unknown system {system!r} (known: {', '.join(PRESETS)})")
    base = PRESETS[system]["full" if full else "default"]
    if sizes is None:
        return base
    if isinstance(sizes, DemoSizes):
        return sizes
    known = [f.name for f in fields(DemoSizes)]
    bad = sorted(set(sizes) - set(known))
    if bad:
        raise ToolkitError(f"unknown demo size {bad[0]!r} (known: {', '.join(sorted(known))})")
    return base.replace(**sizes)


# ---------------------------------------------------------------------------
# step bookkeeping
# ---------------------------------------------------------------------------

def _fmt_time(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


class _Step:
    """One step of the demo (a :class:`toolkit.steps.Step`): the header it prints and its timing."""

    def __init__(self, demo_dir: Path, name: str, settings: dict, upstream: Sequence, echo,
                 title: str | None = None, indent: str = "", clean: bool = True):
        self.name = name
        self.number = STEPS.index(name) + 1 if name in STEPS else None
        self.title = title or TITLES.get(name, name)
        self.indent = indent
        self.clean = clean  # False: the folder holds sub-steps with their own markers
        self.settings = settings
        self.step = Step(demo_dir / name, {"step": name, "settings": settings, "upstream": [u.key for u in upstream]},
                         base=(demo_dir / name).parent)
        self.key, self.dir = self.step.key, self.step.dir
        self.echo = echo
        self.seconds = None

    def begin(self) -> bool:
        """True if the step must run (prints the header); False if it is reused."""
        head = f"[{self.number}/{len(STEPS)}] {self.title}" if self.number else f"{self.indent}{self.title}"
        rec = self.step.record()
        if rec is not None:
            self.seconds = rec.get("seconds", 0.0)
            self.echo(f"{head}: done before ({_fmt_time(self.seconds)}), reused")
            return False
        state = self.step.start(self.settings, clean=self.clean)
        if state == "changed" and self.clean:
            self.echo(f"{head}: settings changed since the last run, redoing it")
        elif state == "resume":
            self.echo(f"{head}: resuming an interrupted run")
        else:
            self.echo(f"{head} ...")
        self._t0 = time.perf_counter()
        return True

    def finish(self, outputs: Sequence[Path], info: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.step.finish(outputs, step=self.name, title=self.title, seconds=self.seconds, settings=self.settings,
                         **(info or {}))
        self.echo(f"{self.indent}    done in {_fmt_time(self.seconds)}")


@dataclass
class _Demo:
    """One invocation of the demo: where, with which sizes, and the steps so far."""

    out: Path
    sizes: DemoSizes
    seed: int
    lmp: str | None
    echo: Callable[[str], None]
    show_progress: bool
    steps: dict = field(default_factory=dict)
    background: dict = field(default_factory=dict)  # name -> BackgroundTask of an MD run started early

    def step(self, name: str, settings: dict, *upstream: str, clean: bool = True) -> _Step:
        st = _Step(self.out, name, settings, [self.steps[u] for u in upstream], self.echo, clean=clean)
        self.steps[name] = st
        return st

    def say(self, indent: str = "    "):
        return lambda m: self.echo(f"{indent}{m}")

    @property
    def select_structures(self) -> Path:
        return self.out / "features" / "structures.data"

    @property
    def features(self) -> Path:
        return self.out / "features" / "features.h5"

    def selection_config(self) -> dict:
        return selection_config(self.sizes, self.seed, self.select_structures, self.features)


# ---------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------

def selection_config(sizes: DemoSizes, seed: int, structures: Path, features: Path) -> dict:
    """The ``hdnnp select`` config of the demo (validated by :func:`toolkit.config.load_config`)."""
    forces = sizes.select_force_weight > 0
    return {
        "data": {"structures": str(structures), "features": str(features), "store_dtype": "float32",
                 "derivatives": forces,
                 **({"force_atoms": sizes.select_force_atoms} if forces and sizes.select_force_atoms else {})},
        "symfuncs": ({"candidates": "al329"} if sizes.system == "al-eam" else
                     {"candidates": CANDIDATES[sizes.system]} if sizes.system in CANDIDATES else
                     {"candidates": "standard", "rc": float(sizes.rc), "r_min": sizes.r_min}),
        "model": {"hidden": [int(h) for h in sizes.hidden]},
        "training": {"epochs": sizes.epochs, "batch_size": sizes.batch_size, "lr": float(sizes.lr),
                     "restart_period": sizes.gl_epochs, "restart_mult": 1, "patience": sizes.patience,
                     "weight_decay": 0.0, "seed": seed, "split_seed": seed, "progress": False,
                     "threads": sizes.threads or None, "checkpoint_every": 10,
                     "force_weight": float(sizes.select_force_weight),
                     **({"force_atoms": sizes.train_force_atoms, "force_resample": True}
                        if forces and sizes.train_force_atoms else {}),
                     # rattled copies (last in the structures) train only: validation and test stay MD samples
                     **({"train_tail": sizes.data_rattled} if sizes.data_rattled else {})},
        "selection": {**({"lambdas": [float(x) for x in sizes.lambdas]} if sizes.lambdas else
                         {"lambdas": None, "n_lambdas": sizes.n_lambdas, "lambda_ratio": float(sizes.lambda_ratio)}),
                      "gl_epochs": sizes.gl_epochs,
                      "agl_epochs": sizes.agl_epochs, "refit_epochs": sizes.refit_epochs,
                      "refit_optimizer": sizes.refit_optimizer, "metric": "forces" if forces else "energy",
                      "angular_cost": float(sizes.angular_cost),
                      **({"cost_model": sizes.cost_model or COST_MODEL[sizes.system]}
                         if sizes.cost_model or sizes.system in COST_MODEL else {}),
                      "max_features": sizes.max_features, "tolerance": float(sizes.tolerance),
                      **({"max_per_element": sizes.max_per_element} if sizes.max_per_element else {}),
                      **({"stop_ratio": float(sizes.stop_ratio)} if sizes.stop_ratio else {}),
                      **({"refine": sizes.refine} if sizes.refine else {}),
                      "repeats": sizes.repeats, "repeat_epochs": sizes.repeat_epochs,
                      "fakes": sizes.fakes, "fakes_seed": seed, "parallel_fakes": sizes.jobs > 1, "baselines": ["cur", "pearson"],
                      "md_check": sizes.md_check, "md_check_distance_margin": float(sizes.guard_distance_margin),
                      "md_check_max_ew_rate": float(sizes.guard_max_ew_rate)},
    }


def _write_config(cfg: dict, path: Path):
    import yaml

    from .config import load_config
    from .fileio import atomic_write

    with atomic_write(path) as fh:
        fh.write("# hdnnp select config written by hdnnp demo (run it alone: hdnnp select "
                 f"{path.name} -o RUN/)\n")
        yaml.safe_dump(cfg, fh, sort_keys=False)
    return load_config(path)


def _quench_kwargs(s: DemoSizes, name: str) -> dict:
    """Protocol of one potential's quench (the full potential has its own, shorter one)."""
    if name == "full":
        temps, melt, eq, meas = s.full_md_temperatures, s.full_melt_time, s.full_equilibration, s.full_measurement
    else:
        temps, melt, eq, meas = s.md_temperatures, s.melt_time, s.equilibration, s.measurement
    return {"temperatures": [float(t) for t in temps], "density": float(s.md_density), "melt_time": float(melt),
            "equilibration": float(eq), "measurement": float(meas), "traj_every": float(min(s.traj_every, meas / 20)),
            "msd_every": float(min(0.1, meas / 20))}


_DATA_MIN: dict = {}


def _data_min_distance(path: Path, probe: float) -> float:
    """The data's shortest interatomic distance (the MD guard's limit), computed once per file."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _DATA_MIN:
        from .lammps.guard import data_min_distance

        _DATA_MIN[key] = data_min_distance(path, probe)
    return _DATA_MIN[key]


def _ref_label(s: DemoSizes) -> str:
    """The reference potential's name (``lj/cut``, ``EAM (Mendelev)``, ...)."""
    from .lammps.systems import get_system

    return get_system(s.system).reference_label


def _quench_step(d: _Demo, name: str, upstream: list, echo, show_progress) -> _Step:
    """The quench of one potential as a sub-step ``md/<name>`` with its own marker."""
    s = d.sizes
    runs = {"reference": s.runs_reference, "selected": s.runs_selected, "full": s.runs_full}[name]
    kw = _quench_kwargs(s, name)
    st = _Step(d.out, f"md/{name}", {"protocol": kw, "runs": runs, "seed": d.seed}, upstream, echo,
               title=f"MD {name}" if name != "reference" else f"MD {_ref_label(s)} (reference)", indent="    ")
    if not st.begin():
        return st
    from .lammps.quench import quench

    pot = "reference" if name == "reference" else d.out / "potentials" / name
    from .lammps.systems import get_system

    tu = get_system(s.system).time_unit
    echo(f"      {runs} run(s) x T = {', '.join(f'{t:g}' for t in kw['temperatures'])}: melt {kw['melt_time']:g} {tu}, "
         f"then {kw['equilibration']:g} {tu} equilibration + {kw['measurement']:g} {tu} measurement per T")
    guard = {"data_min_distance": _data_min_distance(d.out / "data" / "input.data", s.rc),
             "distance_margin": s.guard_distance_margin, "max_ew_rate": s.guard_max_ew_rate}
    quench(pot, st.dir, system=s.system, runs=runs, seed=d.seed, lmp=d.lmp, jobs=s.jobs,
           label=name if name != "reference" else _ref_label(s), show_progress=show_progress, guard=guard, **kw)
    for run, status in read_json(st.dir / "quench.json").get("run_status", {}).items():
        if status["status"] == "FAILED":
            echo(f"      {run} FAILED at {status['step']}: {status['reason']}")
    st.finish([st.dir / "quench.json"])
    return st


_REFERENCE_MD = SimpleNamespace(key="lj/cut")  # the upstream of the reference MD: it needs no potential


def _in_background(d: _Demo, name: str, upstream: list) -> None:
    """Start the quench of ``name`` in a background thread (joined by the MD step)."""
    d.echo(f"    (the {_ref_label(d.sizes) + ' reference' if name == 'reference' else name + ' potential'}'s MD runs meanwhile, "
           "in the background)")
    d.background[name] = BackgroundTask(lambda: _quench_step(d, name, upstream,
                                                             lambda m: d.echo(f"    [background] {m.strip()}"), False))


def _step_data(d: _Demo) -> None:
    s = d.sizes
    data_dir = d.out / "data"
    st = d.step("data", {"system": s.system, "configs": s.configs, "cells": list(s.cells), "seed": d.seed,
                         "temperatures": list(s.data_temperatures), "densities": list(s.data_densities),
                         "starts": list(s.data_starts),
                         **({"rattled": s.data_rattled, "rattle_sigma": s.data_rattle_sigma} if s.data_rattled else {})})
    if not st.begin():
        return
    from .lammps.generate import generate

    n_sp = len(s.data_temperatures) * len(s.data_densities) * len(s.data_starts)
    from .lammps.systems import get_system

    phases = get_system(s.system).phases  # a liquid is melted from the first crystal (fcc: 4 atoms a cell, diamond 8)
    n_basis = phases.get(s.data_starts[0], next(iter(phases.values()))).n_basis
    n_at = n_basis * s.cells[0] * s.cells[1] * s.cells[2]
    d.echo(f"    {s.configs} configurations of {n_at} atoms at {n_sp} state points "
           f"(T {', '.join(f'{t:g}' for t in s.data_temperatures)}; rho "
           f"{', '.join(f'{r:g}' for r in s.data_densities)}; {' and '.join(s.data_starts)} starts)"
           + (f", and {s.data_rattled} rattled copies (sigma {s.data_rattle_sigma:g}) with the reference's forces"
              if s.data_rattled else ""))
    generate(s.system, data_dir, n_configs=s.configs, seed=d.seed, lmp=d.lmp, temperatures=s.data_temperatures,
             densities=s.data_densities, starts=s.data_starts, cells=s.cells, jobs=s.jobs,
             show_progress=d.show_progress, rattled=s.data_rattled, rattle_sigma=s.data_rattle_sigma)
    st.finish([data_dir / "input.data", data_dir / "states.csv", data_dir / "generate.json"])


def _selection_take(n: int, s: DemoSizes, seed: int):
    """Indices of the data's structures the selection uses: ``select_structures`` MD samples drawn at
    random (sorted), then every rattled copy (the data's last ``data_rattled``; they train only)."""
    import numpy as np

    m = n - s.data_rattled
    md = np.sort(np.random.default_rng(seed).choice(m, min(s.select_structures, m), replace=False))
    return np.concatenate([md, np.arange(m, n)]).astype(int)


def _step_features(d: _Demo) -> None:
    s = d.sizes
    cfg_dict = d.selection_config()
    st = d.step("features", {"symfuncs": cfg_dict["symfuncs"], "store_dtype": "float32", "seed": d.seed,
                             "structures": s.select_structures, "derivatives": cfg_dict["data"]["derivatives"],
                             "force_atoms": cfg_dict["data"].get("force_atoms")},
                "data")
    if not st.begin():
        return
    from .structures import read_structures, write_n2p2
    from .training.pipeline import resolve_data

    structs = read_structures(d.out / "data" / "input.data")
    take = _selection_take(len(structs), s, d.seed)
    write_n2p2(d.select_structures, [structs[i] for i in take])
    cfg = _write_config(cfg_dict, st.dir / "config.yaml")
    cfg.training.progress = d.show_progress
    what = ("the reference study's 329 Al candidates (rc 6.8 / 4.4 A)" if s.system == "al-eam"
            else f"the '{CANDIDATES[s.system]}' candidates (docs/systems.md)" if s.system in CANDIDATES
            else f"12 radial + 10 angular candidates (rc = {s.rc:g} sigma)")
    d.echo(f"    {what} of {len(take)} of the {len(structs)} "
           f"structures{', with derivatives for force training' if cfg.data.derivatives else ''}; "
           f"the {s.fakes} fake noise features are drawn in step 3")
    resolve_data(cfg, st.dir, echo=d.say())
    st.finish([d.features, d.select_structures])


def _step_select(d: _Demo) -> None:
    """The AGL study; the reference MD runs meanwhile on the core training leaves idle."""
    cfg_dict = d.selection_config()
    sel_dir = d.out / "select"
    st = d.step("select", {k: v for k, v in cfg_dict.items() if k != "data"}, "features")
    if not st.begin():
        return
    from .selection.pipeline import run_select
    from .training.pipeline import setup_torch

    if d.sizes.jobs > 1:
        _in_background(d, "reference", [_REFERENCE_MD])
    cfg = _write_config(cfg_dict, sel_dir / "config.yaml")
    setup_torch(cfg)
    run_select(cfg, sel_dir, echo=d.say())
    sel = read_json(sel_dir / "selected.json")
    outputs = [sel_dir / n for n in ("selected.json", "path.csv", "selection_matrix.png", "rmse_vs_n.png")]
    outputs += [Path(sel["chosen_model"]), sel_dir / "full" / "model.pt"]
    st.finish(outputs, {"selected": sel["sets"]["AGL"]["functions"]})


def _step_potentials(d: _Demo) -> None:
    """The chosen set's refit continued on energies and forces; both potentials exported to n2p2."""
    s = d.sizes
    pot_dir = d.out / "potentials"
    chosen_model = Path(read_json(d.out / "select" / "selected.json")["chosen_model"])
    refit = {"force_weight": s.force_weight, "epochs": s.force_epochs,
             "batch_size": s.force_batch_size, "optimizer": s.force_optimizer, "dtype": s.force_dtype,
             "force_atoms": _refit_force_atoms(s), **({"data": s.refit_data} if s.refit_data != "select" else {}),
             **({"rattled_weight": s.rattled_weight} if s.data_rattled and s.rattled_weight != 1.0 else {})}
    st = d.step("potentials", {"chosen": os.path.relpath(chosen_model, d.out), "refit": refit}, "select")
    if not st.begin():
        return
    from .export import export_n2p2
    from .potential import load_potential

    def export(name, src):
        model = load_potential(src)
        export_n2p2(model, pot_dir / name, comment=f"hdnnp demo: {name} potential ({src}).")
        d.echo(f"    {name}: {len(model.settings.symfuncs)} functions -> {pot_dir / name}")

    export("full", d.out / "select" / "full" / "model.pt")
    if s.runs_full > 0 and s.jobs > 1 and s.force_epochs > 0:
        # the refit trains on one core: quench the (slow) full potential on the other meanwhile
        _in_background(d, "full", [st])
    selected_src = chosen_model
    if s.force_epochs > 0:
        selected_src = _checked_refit(d, _force_refit(d.out, s, d.seed, chosen_model, d.echo), chosen_model)
    export("selected", selected_src)
    _state_errors(d, {"selected": selected_src, "full": d.out / "select" / "full" / "model.pt"})
    st.finish([pot_dir / n / f for n in ("selected", "full") for f in ("input.nn", "scaling.data")])


#: structures per state point the potentials' errors are measured on (at most; fewer for many state points)
ERROR_STRUCTURES_PER_STATE, ERROR_STRUCTURES = 30, 300


def _state_errors(d: _Demo, models: dict[str, Path]) -> None:
    """potentials/errors/<name>/: each potential's energy and force errors per state point of the data
    (:mod:`toolkit.prediction_errors`), on the same evenly spaced structures of each; nothing without a
    states.csv."""
    from .fileio import atomic_write
    from .potential import load_potential
    from .predict import predict_structures
    from .prediction_errors import (errors_by_state, plot_errors_by_state, read_states, sample_by_state, state_units,
                                    structure_errors)
    from .structures import read_structures

    data = d.out / "data" / "input.data"
    structures = read_structures(data)
    states = read_states(data.with_name("states.csv"), len(structures))
    if states is None:
        return
    n_groups = max(1, len(states.groupby([c for c in ("state", "start") if c in states], dropna=False)))
    take = sample_by_state(states, max(5, min(ERROR_STRUCTURES_PER_STATE, ERROR_STRUCTURES // n_groups)))
    sample = [structures[i] for i in take]
    for name, model_path in models.items():
        energies, forces, _ = predict_structures(load_potential(model_path), sample, source=data)
        errors = structure_errors(sample, energies, forces)
        errors["structure"] = [take[k] for k in errors["structure"]]
        by_state = errors_by_state(errors, states)
        out = d.out / "potentials" / "errors" / name
        out.mkdir(parents=True, exist_ok=True)
        for df, file in ((errors, "errors.csv"), (by_state, "errors_by_state.csv")):
            with atomic_write(out / file) as fh:
                df.to_csv(fh, index=False, float_format="%.10g")
        plot_errors_by_state(by_state, out / "errors_by_state.png", units=state_units(states),
                             title=f"{name} potential: errors per state point")
        md = by_state[by_state["start"] != "rattled"] if "start" in by_state else by_state
        d.echo(f"    {name}: errors on {len(errors)} structures of {len(by_state)} state points; MD samples: energy "
               f"bias {md['energy_bias'].min():+.3g} to {md['energy_bias'].max():+.3g} per atom, force RMSE "
               f"{md['force_rmse'].min():.3g} to {md['force_rmse'].max():.3g} -> {out}")


def _checked_refit(d: _Demo, refit_model: Path, chosen_model: Path) -> Path:
    """The final refit passes the selection's MD check before it is handed out, else the chosen path refit
    (which passed it) is; what happened goes to ``potentials/refit/md_check.json``."""
    s = d.sizes
    if s.md_check is False:
        return refit_model
    from .lammps.mdcheck import MDCheckSettings, check_model, md_check_available
    from .potential import load_potential

    element = load_potential(refit_model).settings.elements
    why_not = md_check_available(element)
    out = refit_model.parent / "md_check.json"
    if why_not is not None:
        write_json(out, {"skipped": why_not, "exported": str(refit_model)})
        return refit_model
    settings = MDCheckSettings(distance_margin=s.guard_distance_margin, max_ew_rate=s.guard_max_ew_rate)
    rec = check_model(refit_model, refit_model.parent / "md_check", element,
                      _data_min_distance(d.out / "data" / "input.data", s.rc), settings, seed=d.seed, lmp=d.lmp)
    use = refit_model if rec["status"] == "PASSED" else chosen_model
    d.echo(f"    MD check of the final refit: {rec['status']}"
           + (f" ({rec['reason']}): the chosen path refit (which passed) is exported instead"
              if rec["status"] != "PASSED" else f" (shortest pair {rec['min_pair_distance']:.3g})"))
    write_json(out, {"rule": "the selection's MD check (selection.md_check), on the final refit", "refit": rec,
                     "exported": str(use)})
    return use


def _md_names(s: DemoSizes) -> list[str]:
    return ["reference", "selected"] + (["full"] if s.runs_full > 0 else [])


def _step_md(d: _Demo) -> None:
    s = d.sizes
    names = _md_names(s)
    st = d.step("md", {"potentials": names, "protocols": {n: _quench_kwargs(s, n) for n in names},
                       "runs": [s.runs_reference, s.runs_selected, s.runs_full], "seed": d.seed}, "potentials",
                clean=False)
    if not st.begin():
        for bg in d.background.values():
            bg.join()
        return
    from .errors import LammpsError

    if "reference" in d.background:
        d.echo(f"    waiting for the background {_ref_label(s)} MD ...")
        d.background.pop("reference").join()
    subs = {"reference": _quench_step(d, "reference", [_REFERENCE_MD], d.echo, d.show_progress)}
    failed = {}
    for name in names[1:]:
        try:
            if name in d.background:
                d.echo(f"    waiting for the background MD of the {name} potential ...")
                d.background.pop(name).join()  # its LammpsError is reported like one of a foreground run
            subs[name] = _quench_step(d, name, [d.steps["potentials"]], d.echo, d.show_progress)
            (d.out / "md" / name / "failed.json").unlink(missing_ok=True)
        except LammpsError as exc:
            # the potential failed in MD (e.g. it left its training range): report it, keep what finished
            failed[name] = str(exc)
            write_json(d.out / "md" / name / "failed.json", {"error": str(exc)})
            d.echo(f"    {name}: MD FAILED: {exc}")
    if s.runs_full == 0:
        d.echo("    full potential: not quenched at these sizes (runs_full = 0; its speed is measured in step 7)")
    st.finish([d.out / "md" / n / ("failed.json" if n in failed else "done.json") for n in names],
              {"sub_steps": {n: subs[n].seconds for n in subs}, "failed": failed})


def _step_analysis(d: _Demo) -> None:
    s = d.sizes
    an_dir = d.out / "analysis"
    from .lammps.systems import get_system

    system = get_system(s.system)
    # alloys: partial RDFs and D per element; covalent liquids (a bond cutoff): bond angles (the report's criteria)
    species = len(system.elements) > 1 or system.bond_cutoff is not None
    fit = {"fit_start": s.msd_fit_start, "fit_end": s.msd_fit_end}
    st = d.step("analysis", {"msd_source": s.msd_source, **fit,
                             **({"species": True} if species else {})}, "md")
    if not st.begin():
        return
    import warnings

    from .lammps.analysis import analyze

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reported below, with the comparisons
        analyze(d.out / "md" / "reference", out_dir=an_dir / "reference", msd_source=s.msd_source, **fit)
        if species:
            _species_tables(d, "reference", system, fit)
    analysed = ["reference"]
    for name in _md_names(s)[1:]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = analyze(d.out / "md" / name, reference_dir=d.out / "md" / "reference",
                              out_dir=an_dir / name, msd_source=s.msd_source, **fit)
            except ToolkitError as exc:  # nothing finished (MD failed at once)
                d.echo(f"    {name}: no analysis: {exc}")
                continue
        analysed.append(name)
        if species:
            _species_tables(d, name, system, fit)
        for w in caught:
            d.echo(f"    warning: {w.message}")
        for _, row in res["comparison"].iterrows():
            d.echo(f"    {name} T = {row['temperature']:g}: D/D_ref {row['D_ratio']:.3f}, RDF peak height "
                   f"{row['g_peak_rel_dev']:+.1%}, position {row['r_peak_rel_dev']:+.1%}")
    st.finish([an_dir / n / f for n in analysed for f in ("diffusion.csv", "rdf.csv", "rdf_peaks.csv", "analysis.json")],
              {"analysed": analysed})


def _species_tables(d: _Demo, name: str, system, fit: dict) -> None:
    """``analysis/<name>/species/``: partial RDFs, D per element, bond angles (a failure is echoed, not fatal)."""
    from .lammps.species_analysis import write_species_tables

    try:
        write_species_tables(d.out / "md" / name, d.out / "analysis" / name / "species", label=name,
                             angles=system.bond_cutoff is not None, **fit)
    except ToolkitError as exc:
        d.echo(f"    {name}: no per-element analysis: {exc}")


def _step_bench(d: _Demo) -> None:
    s = d.sizes
    bench_dir, pot_dir = d.out / "bench", d.out / "potentials"
    st = d.step("bench", {"steps": s.bench_steps, "full_steps": s.bench_full_steps, "repeats": s.bench_repeats,
                          "seed": d.seed}, "potentials")
    if not st.begin():
        return
    import pandas as pd

    from .fileio import atomic_write
    from .lammps.bench import bench

    common = {"system": s.system, "repeats": s.bench_repeats, "lmp": d.lmp, "seed": d.seed,
              "show_progress": d.show_progress}
    fast = bench(["reference", pot_dir / "selected"], bench_dir / "fast" / "bench.csv", steps=s.bench_steps,
                 labels=[_ref_label(s), "selected"], **common)
    slow = bench([pot_dir / "full"], bench_dir / "full" / "bench.csv", steps=s.bench_full_steps,
                 warmup=max(1, s.bench_full_steps // 10), labels=["full"], **common)
    table = pd.concat([fast, slow], ignore_index=True)
    table["speed_vs_selected"] = table["median"] / float(table.loc[table.label == "selected", "median"].iloc[0])
    with atomic_write(bench_dir / "bench.csv") as fh:
        table.to_csv(fh, index=False)
    for _, row in table.iterrows():
        d.echo(f"    {row['label']}: {row['median']:.1f} timesteps/s (median of {s.bench_repeats})")
    st.finish([bench_dir / "bench.csv", bench_dir / "fast" / "bench.png", bench_dir / "full" / "bench.png"])


def _step_report(d: _Demo) -> None:
    st = d.step("report", {"criteria": SYSTEM_CRITERIA[d.sizes.system]}, "select", "analysis", "bench")
    if not st.begin():
        return
    from .report import write_report

    res = write_report(d.out)
    for row in res["criteria"]:
        d.echo(f"    {'PASS' if row['pass'] else 'FAIL'}  {row['criterion']}: {row['value']}")
    st.finish([d.out / "report.html", d.out / "report.json"])


#: the steps in order (names as in :data:`STEPS`)
_PIPELINE = {"data": _step_data, "features": _step_features, "select": _step_select,
             "potentials": _step_potentials, "md": _step_md, "analysis": _step_analysis, "bench": _step_bench,
             "report": _step_report}


def run_demo(out_dir: str | os.PathLike = "demo", full: bool = False, seed: int = 0, lmp: str | None = None,
             sizes: DemoSizes | dict | None = None, echo: Callable[[str], None] = print,
             show_progress: bool = True, system: str = "lj") -> Path:
    """Run (or resume) the whole demo in ``out_dir``; returns the path of ``report.html``.

    ``full``: the reference study's sizes instead of the 20-minute default;
    ``seed``: seeds data, splits, initialisation, fakes and MD velocities;
    ``lmp``: LAMMPS command (default ``$HDNNP_LMP`` or the venv's ``lmp``);
    ``sizes``: a :class:`DemoSizes` or a dict of fields to override;
    ``system``: the preset of :data:`PRESETS`.
    """
    import threading

    from .provenance import versions

    s = make_sizes(full, sizes, system)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    lock = threading.Lock()

    def locked_echo(msg):  # serialise the messages of the background MD
        with lock:
            echo(msg)

    locked_echo(f"hdnnp demo in {out} ({'full' if full else 'default'} sizes, seed {seed})")
    write_json(out / "demo.json", {"full": full, "seed": seed, "lmp": lmp, "sizes": s.as_dict(),
                                   "criteria": SYSTEM_CRITERIA[s.system], "steps": {n: TITLES[n] for n in STEPS},
                                   "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    d = _Demo(out, s, seed, lmp, locked_echo, show_progress)
    for name in STEPS:
        try:
            _PIPELINE[name](d)
        except ToolkitError:
            _stop_background(d)
            if name != "report":
                _partial_report(d, name)
            raise
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): no MD may outlive the demo
            _stop_background(d)
            raise
    report = out / "report.html"
    locked_echo(f"total {_fmt_time(time.perf_counter() - t_start)} (this invocation); report: {report}")
    return report


def _stop_background(d: _Demo) -> None:
    """Stop the MD started in the background (a step failed or the demo was interrupted) and wait for it.

    Without this the interpreter waits at exit for the background runs to finish, and a second
    signal leaves their LAMMPS processes orphaned. Finished runs stay finished (resumable).
    """
    if not d.background:
        return
    from .lammps.runner import CANCEL

    CANCEL.set()
    try:
        for task in d.background.values():
            try:
                task.join()
            except BaseException:  # noqa: BLE001 -- the cancelled runs' errors; the step's own error is raised
                pass
    finally:
        d.background.clear()
        CANCEL.clear()


def _partial_report(d: _Demo, failed_step: str) -> None:
    """A step failed: the report of what the earlier steps wrote (every later criterion "not measured", FAIL)."""
    from .report import write_report

    try:
        write_report(d.out)
    except Exception as exc:  # noqa: BLE001 -- the step's own error is the one the caller sees
        d.echo(f"    no report after the failed step {failed_step}: {exc}")
        return
    d.echo(f"    step {failed_step} failed: the report of the steps before it: {d.out / 'report.html'}")


def _refit_force_atoms(s: DemoSizes) -> int | float | None:
    """Force atoms per structure of the final refit (None or 1.0: every atom)."""
    return s.select_force_atoms if s.refit_force_atoms is None else s.refit_force_atoms


def _refit_threads(s: DemoSizes) -> int | None:
    """Torch threads of the final refit (None: torch's choice).

    The selection trains ``jobs`` models at a time with ``threads`` each; the final
    refit is the only training left, so it takes the threads of every job (the
    background quench of the full potential is short at the default sizes).
    Measured on the Cu-Zr refit: 2 threads 1.8x faster than 1 (6 s instead of
    11 s per 10 L-BFGS iterations).
    """
    return s.threads * s.jobs if s.threads else None


def _force_refit(out: Path, s: DemoSizes, seed: int, chosen_model: Path, echo) -> Path:
    """Continue training the chosen set's refit (``hdnnp train`` with ``init_model``).

    The path's refits stop after a few L-BFGS iterations (enough to rank the sets);
    the potential for MD continues from the chosen refit, on the selection's
    structures with the same split (validation and test stay unseen), with
    derivatives of the chosen functions only.
    """
    from .export import export_n2p2
    from .potential import load_potential
    from .training.pipeline import run_train, setup_torch

    work = out / "potentials" / "refit"
    work.mkdir(parents=True, exist_ok=True)
    export_n2p2(load_potential(chosen_model), work / "chosen")
    structures, tail = out / "features" / "structures.data", s.data_rattled
    if s.refit_data == "all":
        from .structures import read_structures, write_n2p2

        data = read_structures(out / "data" / "input.data")
        take = _selection_take(len(data), s, seed)
        md, rattled = take[:len(take) - s.data_rattled], take[len(take) - s.data_rattled:]
        rest = sorted(set(range(len(data))) - set(take.tolist()))
        tail, structures = len(rest) + len(rattled), work / "structures.data"
        # the selection's MD samples first, in its order: the split of the warm start is kept
        write_n2p2(structures, [data[i] for i in md] + [data[i] for i in rest] + [data[i] for i in rattled])
    lbfgs = s.force_optimizer == "lbfgs"
    weighted = s.data_rattled and s.rattled_weight != 1.0
    cfg_dict = {
        "data": {"structures": str(structures), "features": str(work / "features.h5"),
                 "derivatives": True, "store_dtype": s.force_dtype,
                 **({"force_atoms": _refit_force_atoms(s)} if _refit_force_atoms(s) not in (None, 1.0) else {})},
        "symfuncs": {"candidates": "input.nn", "input_nn": str(work / "chosen" / "input.nn")},
        "model": {"hidden": [int(h) for h in s.hidden]},
        "training": {"epochs": s.force_epochs, "batch_size": s.force_batch_size,
                     "lr": 1.0 if lbfgs else s.lr / 3, "optimizer": s.force_optimizer,
                     "dtype": s.force_dtype, "restart_period": s.force_epochs, "restart_mult": 1,
                     "patience": s.force_epochs, "init_model": str(chosen_model),
                     "weight_decay": 0.0, "force_weight": float(s.force_weight), "seed": seed, "split_seed": seed,
                     "train_tail": tail,
                     # the rattled copies are last in either structure file
                     **({"tail_weight": float(s.rattled_weight), "tail_weight_structures": s.data_rattled}
                        if weighted else {}),
                     "progress": False, "threads": _refit_threads(s)},
    }
    cfg = _write_config(cfg_dict, work / "config.yaml")
    setup_torch(cfg)
    how = (f"full-batch L-BFGS, {s.force_epochs} x 10 iterations" if lbfgs else f"AdamW, {s.force_epochs} epochs")
    echo(f"    the chosen refit continued on energies and forces (force weight {s.force_weight:g}, {how}, "
         f"{s.force_dtype})" + (f"; {tail} more structures of the data in its training set only"
                                 + (f" ({s.data_rattled} rattled copies" + (f", loss weight {s.rattled_weight:g})"
                                                                            if weighted else ")")
                                    if s.data_rattled else "") if tail else ""))
    return run_train(cfg, work, echo=lambda m: echo(f"      {m}"))
