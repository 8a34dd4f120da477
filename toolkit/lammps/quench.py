"""The melt-and-quench protocol: liquid MD at falling temperatures, R independent runs.

Protocol (the reference study's, for Al): an fcc crystal of 256 atoms at the
quench density is melted at the highest temperature, then cooled in steps
(1250, 1125, 1000, 875 K); at every temperature the liquid is equilibrated
(Nose-Hoover NVT; the study used 30 ps) and then measured (1 ns in the study):
the mean-squared displacement (``compute msd com yes`` through
``fix ave/time``) and a trajectory for radial distribution functions. R
independent runs (10 in the study) differ in the seed of the initial
velocities. LJ, Si and Cu-Zr follow the same shape in their own units:

========  =====================================  ===========  ====================
system    temperatures                           density      default times
========  =====================================  ===========  ====================
lj        1.5, 1.3, 1.1, 0.9, 0.7 (epsilon/kB)   0.9 sigma^-3 melt 10, eq 20, meas 100 tau
al-eam    1250, 1125, 1000, 875 K                2.35 g/cm^3  melt 20, eq 10, meas 50 ps
si-sw     2500, 2300, ..., 1500 K (200 K steps)  2.45 g/cm^3  melt 10 at 3500 K (SW), eq 5, meas 25 ps
cuzr-eam  2000, 1800, 1600, 1400, 1250, 1100 K   7.1 g/cm^3   melt 5 at 2500 K, eq 5, meas 40 ps
========  =====================================  ===========  ====================

Alloys start from the generator's random fcc solid solution of the system's
composition (``run_*/melt/types.in``; ``composition`` sets another, e.g.
Cu50Zr50, recorded in ``quench.json`` ``protocol``).

The study's Al sizes: ``equilibration=30, measurement=1000, runs=10``.

Layout of ``OUT/``::

    quench.json            settings, potential, versions
    pair.in                the potential's LAMMPS commands (included by every step)
    run_000/melt/          in.lammps, log.lammps, guard.dat, final.data, done.json
    run_000/T_1250/        in.lammps, log.lammps, guard.dat, msd.dat, traj.lammpstrj, final.data, done.json
    ...

Guard rails (:mod:`toolkit.lammps.guard`): every step is watched inside
LAMMPS (shortest pair distance, extrapolation warnings of ``pair_style
hdnnp``, conserved-energy drift, temperature, lost atoms). A step that leaves
its limits stops; it gets ``failed.json`` (``status: FAILED`` and the reason)
instead of ``done.json``, the run's later temperatures are not run, the other
runs go on. ``done.json`` of a step that passed records what the guard saw
(``min_pair_distance``, ``extrapolation_warnings``, ``ew_per_atom_step``,
``max_energy_drift_per_atom``); ``quench.json`` lists every run's status
under ``run_status``.

Each step is its own LAMMPS run that starts from the previous step's
``final.data``; ``done.json`` is written (atomically) only after a step
finished and its outputs were checked. Rerunning the same command skips
finished steps and restarts an interrupted one from the previous step's data,
so an interrupted quench ends with the same files as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Sequence

from ..errors import LammpsError, ToolkitError
from ..fileio import write_json
from ..steps import Step, check_resume, settings_key
from ..provenance import provenance
from .generate import derive_seed, type_lines
from .guard import EXPLOSION_FACTOR, GuardSettings, failure_reason, guard_settings, guarded_pair_lines, step_metrics, step_variables
from .potentials import PotentialSpec, resolve_potential
from .progress import progress_bar
from .runner import lammps_command, lammps_version, run_lammps, run_parallel, write_input, write_snippet
from .systems import System, get_system

def step_name(temperature: float) -> str:
    """Directory name of a temperature step (``T_1250``, ``T_0.7``)."""
    return f"T_{temperature:g}"


def protocol_settings(system: System, temperatures=None, density=None, melt_temperature=None, melt_time=None,
                      equilibration=None, measurement=None, msd_every=None, traj_every=None, timestep=None,
                      cells=None) -> dict:
    """The protocol with the system's defaults filled in (times in the system's time unit)."""
    temps = [float(t) for t in (temperatures or system.quench_temperatures)]
    if not temps:
        raise ToolkitError("no quench temperatures")
    dt = float(timestep or system.timestep)
    phase_name = next(iter(system.phases))
    phase = system.phases[phase_name]
    density = float(density if density is not None else system.quench_density)
    out = {
        "system": system.name, "units": system.units, "element": " ".join(system.elements), "mass": system.mass,
        "temperatures": temps, "density": density,
        "melt_temperature": float(melt_temperature if melt_temperature is not None
                                  else system.quench_melt_temperature or temps[0]),
        "melt_time": float(melt_time if melt_time is not None else system.quench_melt_time),
        "equilibration": float(equilibration if equilibration is not None else system.quench_equilibration),
        "measurement": float(measurement if measurement is not None else system.quench_measurement),
        "msd_every": float(msd_every if msd_every is not None else system.quench_msd_every),
        "traj_every": float(traj_every if traj_every is not None else system.quench_traj_every),
        "timestep": dt, "tdamp": system.tdamp, "thermostat": "Nose-Hoover NVT (fix nvt)",
        "lattice": phase.lattice, "lattice_scale": system.lattice_scale(phase_name, density),
        "cells": list(cells or phase.cells), "n_atoms": int(phase.n_basis * _prod(cells or phase.cells)),
    }
    if len(system.elements) > 1:  # alloys: the composition (LAMMPS type order)
        out["composition"] = dict(zip(system.elements, system.fractions))
    for key in ("melt_time", "equilibration", "measurement", "msd_every", "traj_every"):
        if out[key] <= 0:
            raise ToolkitError(f"quench {key} must be positive (got {out[key]})")
    if out["msd_every"] > out["measurement"] or out["traj_every"] > out["measurement"]:
        raise ToolkitError("msd_every and traj_every must not exceed the measurement time")
    return out


def _prod(xs) -> int:
    p = 1
    for x in xs:
        p *= int(x)
    return p


def _steps(t: float, dt: float) -> int:
    return max(1, int(round(t / dt)))


class _Runner:
    """Runs the steps of one independent run, skipping finished ones."""

    def __init__(self, out_dir: Path, proto: dict, spec: PotentialSpec, system: System, lmp, seed: int,
                 on_progress=None, guard: GuardSettings | None = None):
        self.out_dir, self.proto, self.spec, self.system, self.lmp = out_dir, proto, spec, system, lmp
        self.guard = guard or guard_settings(system.name)
        self.units = {"length": system.length_unit, "energy": system.energy_unit}
        self.seed = seed
        self.on_progress = on_progress or (lambda run, done, frac: None)
        self.dt = proto["timestep"]
        self.skin = 0.3 if system.is_lj else 1.0

    def plan(self, run: int) -> list[tuple[str, float | None, dict]]:
        p, dt = self.proto, self.dt
        every = max(1, _steps(p["measurement"], dt) // 100)
        melt_vars = {
            "units": p["units"], "mass": p["mass"], "lattice": p["lattice"], "lattice_scale": p["lattice_scale"],
            "nx": p["cells"][0], "ny": p["cells"][1], "nz": p["cells"][2],
            "pair_file": "../../melt_pair.in" if p.get("melt_potential") else "../../pair.in",
            "timestep": dt, "skin": self.skin, "seed": derive_seed(self.seed, run), "t_melt": p["melt_temperature"],
            "tdamp": p["tdamp"], "melt_steps": _steps(p["melt_time"], dt),
            "thermo_every": max(1, _steps(p["melt_time"], dt) // 50),
        }
        if p.get("melt_cool_time"):  # the reference's liquid brought to the first temperature
            melt_vars.update(t_end=p["temperatures"][0], cool_steps=_steps(p["melt_cool_time"], dt))
        if len(self.system.elements) > 1:  # an alloy: random sites of the lattice become types 2, 3, ...
            melt_vars.update(ntypes=len(self.system.elements), types_file="types.in")
        melt_vars.update(step_variables(self.guard, p["n_atoms"], melt_vars["melt_steps"], p["melt_temperature"],
                                        self.system.kB, melt_vars["thermo_every"], stop_on_warnings=False))
        steps = [("melt", None, melt_vars)]
        previous = "melt"
        meas = _steps(p["measurement"], dt)
        msd_every = _steps(p["msd_every"], dt)
        traj_every = _steps(p["traj_every"], dt)
        unit = math.lcm(msd_every, traj_every)
        meas = unit * max(1, round(meas / unit))  # a whole number of MSD values and frames
        for t in p["temperatures"]:
            name = step_name(t)
            steps.append((name, t, {
                "units": p["units"], "element": p["element"], "data_file": f"../{previous}/final.data",
                "pair_file": "../../pair.in", "timestep": dt, "skin": self.skin, "temperature": t,
                "tdamp": p["tdamp"], "equil_steps": _steps(p["equilibration"], dt), "meas_steps": meas,
                "msd_every": msd_every, "traj_every": traj_every, "thermo_every": every,
            }))
            steps[-1][2].update(step_variables(self.guard, p["n_atoms"], _steps(p["equilibration"], dt) + meas, t,
                                               self.system.kB, every))
            previous = name
        return steps

    def run(self, run: int) -> list[dict]:
        """Run (or resume) the steps of one run; stops at the first FAILED step (its record ends the list)."""
        run_dir = self.out_dir / f"run_{run:03d}"
        plan = self.plan(run)
        records = []
        upstream = settings_key(self.spec.pair_lines)
        for i, (name, temperature, variables) in enumerate(plan):
            step_dir = run_dir / name
            step = Step(step_dir, [upstream, variables])
            failed = Step(step_dir, [upstream, variables], marker="failed.json")
            finished = step.record() or failed.record()
            if finished is None:
                # unfinished (or stale): everything downstream must be redone
                for later, _, _ in plan[i:]:
                    if (run_dir / later).exists():
                        shutil.rmtree(run_dir / later)
                finished = self._run_step(run, i, name, temperature, variables, step, failed)
            records.append(finished)
            upstream = step.key
            self.on_progress(run, i + 1, 0.0)
            if finished.get("status") == "FAILED":
                self.on_progress(run, len(plan), 0.0)
                break
        return records

    def _run_step(self, run: int, i: int, name: str, temperature, variables: dict, step: Step, failed: Step) -> dict:
        """Run one step; a stop by the guard rails gives a FAILED record (``failed``'s marker, ``failed.json``)
        instead of an error."""
        step_dir = step.dir
        step_dir.mkdir(parents=True)
        if variables.get("types_file"):
            write_snippet(step_dir / "types.in", type_lines(self.system, self.proto["n_atoms"], variables["seed"]),
                          comment=f"{self.system.composition_label}: masses and random sites")
        template = "quench_melt.in" if temperature is None else "quench.in"
        total_steps = variables.get("melt_steps", 0) + variables.get("cool_steps", 0) + variables.get("equil_steps", 0) + variables.get("meas_steps", 0)
        label = f"{self.spec.label} run {run} {name}"
        write_input(template, step_dir, variables, header=f"hdnnp quench: {label}")
        target = variables.get("temperature", variables.get("t_melt"))
        record = {"run": run, "step": name, "temperature": temperature, "seed": variables.get("seed"),
                  "steps": total_steps}
        try:
            result = run_lammps("in.lammps", step_dir, lmp=self.lmp, name=label,
                                max_temperature=EXPLOSION_FACTOR * target,
                                progress=lambda s: self.on_progress(run, i, min(1.0, s / total_steps)))
        except LammpsError as exc:
            reason = failure_reason(step_dir / "log.lammps", variables, self.guard, self.units, str(exc))
            if reason is None:
                raise
            record.update({"status": "FAILED", "reason": reason, "log": str(step_dir / "log.lammps"),
                           **step_metrics(step_dir, self.proto["n_atoms"], total_steps)})
            return failed.finish(**record)
        for needed in ["final.data"] + ([] if temperature is None else ["msd.dat", "traj.lammpstrj"]):
            if not (step_dir / needed).exists():
                raise LammpsError(f"LAMMPS run {label} ({step_dir}) finished without writing {needed}")
        thermo = result.thermo[-1] if result.thermo else None
        record.update({
            "status": "PASSED", "wall_time_s": result.wall_time, "timesteps_per_s": result.performance,
            "mean_temperature": float(thermo["Temp"].mean()) if thermo is not None and "Temp" in thermo else None,
            **step_metrics(step_dir, self.proto["n_atoms"], total_steps),
        })
        return step.finish(**record)


def run_status(records: Sequence[dict], n_steps: int) -> dict:
    """A run's verdict from its step records: PASSED (every step passed), FAILED (with step and reason) or INCOMPLETE."""
    failed = [r for r in records if r.get("status") == "FAILED"]
    passed = [r for r in records if r.get("status", "PASSED") == "PASSED"]
    dists = [r["min_pair_distance"] for r in records if r.get("min_pair_distance") is not None]
    out = {"extrapolation_warnings": int(sum(r.get("extrapolation_warnings") or 0 for r in records)),
           "min_pair_distance": min(dists) if dists else None}
    if failed:
        return {"status": "FAILED", "step": failed[0]["step"], "reason": failed[0]["reason"], **out}
    return {"status": "PASSED" if len(passed) == n_steps else "INCOMPLETE", **out}


def quench(potential: str | os.PathLike, out_dir: str | os.PathLike, system: str | System | None = None,
           runs: int = 3, seed: int = 0, lmp: str | Sequence[str] | None = None, *,
           temperatures: Sequence[float] | None = None, density: float | None = None,
           melt_temperature: float | None = None, melt_time: float | None = None,
           equilibration: float | None = None, measurement: float | None = None,
           msd_every: float | None = None, traj_every: float | None = None, timestep: float | None = None,
           cells: Sequence[int] | None = None, jobs: int = 1, label: str | None = None,
           show_progress: bool = True, guard: GuardSettings | dict | None = None,
           composition: str | dict | None = None) -> Path:
    """Run (or resume) the melt-and-quench protocol; returns ``out_dir``.

    Parameters
    ----------
    potential : ``"reference"`` (the system's own LAMMPS potential), an n2p2
        directory (``input.nn``, ``scaling.data``, ``weights.NNN.data``) or a
        toolkit ``model.pt`` (exported to ``out_dir/potential/``).
    system : ``lj``, ``al``, ``si`` or ``cuzr`` (guessed from the potential's elements if omitted).
    runs : independent runs (different velocity seeds derived from ``seed``).
    lmp : LAMMPS command line, e.g. ``"mpirun -np 4 lmp"``.
    temperatures : temperature steps, highest first (K, or epsilon/kB for LJ).
    density : g/cm^3 (sigma^-3 for LJ).
    melt_temperature : where the crystal is melted (default: the first temperature).
        Systems with ``quench_melt_reference`` (Si: the crystal superheats, 3500 K) melt it with
        the reference potential whatever ``potential`` is (``protocol`` ``melt_potential``,
        ``melt_pair.in``), which then cools it to the first temperature (``melt_cool_time``);
        the potential starts from that liquid.
    melt_time, equilibration, measurement : times per step (ps, or tau for LJ).
    msd_every, traj_every : sampling intervals of the MSD and the trajectory (time units).
    timestep : MD timestep (default: the system's).
    cells : unit cells of the starting crystal (default: 256 atoms, Si 216).
    jobs : independent runs executed at the same time.
    label : name of the potential in tables and plots.
    composition : alloys only: ``"Cu50Zr50"`` or ``{"Cu": 0.5, "Zr": 0.5}`` (default: the system's,
        Cu64Zr36; parsed by :meth:`~toolkit.lammps.systems.System.with_composition`, as
        ``hdnnp generate``); the density stays in g/cm^3 (its atoms per A^3 follow the mean molar mass).
    guard : limits of the guard rails: a :class:`~toolkit.lammps.guard.GuardSettings`
        or the keyword arguments of :func:`toolkit.lammps.guard.guard_settings`
        (e.g. ``{"data_min_distance": 2.01}``); default: the system's fallback
        shortest distance, 0.01 extrapolation warnings per atom and step, a
        drift of 0.1 kB T per atom.

    A run that leaves the guard's limits is FAILED (``failed.json`` with the
    reason; ``quench.json`` ``run_status``); it does not raise.

    Raises :class:`~toolkit.errors.LammpsError` naming the run directory and the
    LAMMPS log line if LAMMPS fails or the potential explodes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sys_ = get_system(system) if isinstance(system, str) else system
    spec, sys_ = resolve_potential(potential, sys_, work_dir=out_dir, lmp=lmp, label=label)
    if composition is not None:
        sys_ = sys_.with_composition(composition)
    proto = protocol_settings(sys_, temperatures, density, melt_temperature, melt_time, equilibration,
                              measurement, msd_every, traj_every, timestep, cells)
    if sys_.quench_melt_reference and spec.kind != "reference":
        # the crystal melts only far outside the data: the melt runs with the reference potential
        proto["melt_potential"] = sys_.reference_label
        proto["melt_cool_time"] = float(sys_.quench_melt_cool_time)  # at the first temperature, same potential
        write_snippet(out_dir / "melt_pair.in", sys_.pair_lines(), comment=f"melt: {sys_.reference_name}")
    if not isinstance(guard, GuardSettings):
        guard = guard_settings(sys_.name, **(guard or {}))
    cmd = lammps_command(lmp)
    meta_path = out_dir / "quench.json"
    settings = {**proto, "seed": seed}
    check_resume(meta_path, settings, "a quench",
                 legacy=lambda rec: {**rec["protocol"], "seed": rec.get("seed")} if "protocol" in rec else None)
    write_snippet(out_dir / "pair.in", guarded_pair_lines(spec.pair_lines), comment=f"potential: {spec.label}")
    record = provenance({"protocol": proto, "runs": runs, "potential": spec.as_dict(), "lammps_command": cmd,
                         "jobs": jobs, "guard": guard.as_dict()}, seed=seed)
    record.update({"protocol": proto, "potential": spec.as_dict(), "runs": runs, "seed": seed, "settings": settings,
                   "guard": guard.as_dict()})
    record["versions"]["lammps_executable"] = lammps_version(cmd)
    write_json(meta_path, record)

    n_steps = len(proto["temperatures"]) + 1
    lock = threading.Lock()
    status: dict[int, float] = {}
    t0 = time.perf_counter()
    with progress_bar(show_progress) as bar:
        task = bar.add_task(f"quench {spec.label}", total=runs * n_steps, status="")

        def on_progress(run, done, frac):
            with lock:
                status[run] = done + frac
                bar.update(task, completed=sum(status.values()),
                           status=f"run {run} step {min(done + 1, n_steps)}/{n_steps}")

        runner = _Runner(out_dir, proto, spec, sys_, cmd, seed, on_progress, guard)
        all_records = dict(enumerate(run_parallel(runner.run, list(range(runs)), jobs)))
    record["wall_time_s"] = time.perf_counter() - t0
    record["steps"] = [rec for r in sorted(all_records) for rec in all_records[r]]
    record["run_status"] = {f"run_{r:03d}": run_status(all_records[r], n_steps) for r in sorted(all_records)}
    record["failed_runs"] = sorted(k for k, v in record["run_status"].items() if v["status"] == "FAILED")
    write_json(meta_path, record)
    return out_dir
