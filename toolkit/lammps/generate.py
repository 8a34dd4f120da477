"""Reference data sets: Nose-Hoover NVT molecular dynamics with the systems' own LAMMPS potentials.

:func:`generate` runs one LAMMPS simulation per *state point* (starting
structure, temperature, and density or pressure), each rendered from
``lammps_inputs/generate.in``:

1. liquid starts are melted at the system's ``melt_temperature``;
2. at a target pressure (metal systems), a Nose-Hoover NPT run finds the
   volume, and the box is set to its mean over the second half of that run;
3. NVT (Nose-Hoover) equilibration at the target temperature;
4. sampling: one configuration every ``interval`` time units (long enough to
   decorrelate: 0.3 tau for LJ, 0.25 ps for Al, 0.2 ps for Si by default).

Energies (total potential energy, ``c_thermo_pe``) and forces (``fx fy fz``)
are written with 17 significant digits, positions wrapped into the cell.
Outputs in ``OUT/``: ``input.data`` (n2p2), ``states.csv`` (one row per
structure: which state point it came from), ``state_points.csv``,
``generate.json`` (settings, versions, timings) and ``states/sp_NNN_*/``
(LAMMPS inputs and logs; finished state points are reused on a rerun).

``rattled`` (optional): copies of sampled configurations with every atom
displaced by a Gaussian of ``rattle_sigma`` per Cartesian component, their
energies and forces from the same potential (LAMMPS ``rerun``), appended after
the MD samples. MD keeps pairs out of a potential's steep repulsive wall (the
Cu-Zr EAM's shortest pair stays near 1.8 A from 1,000 to 3,500 K, at 7.1-8.5
g/cm^3); rattled copies put pairs on the wall (1.65 A at 0.1 A), so a network
learns the repulsion it would otherwise extrapolate. Their comment lines say
``rattled``; :func:`toolkit.lammps.guard.data_min_distance` skips them, so the
MD guard's limit stays the MD samples' shortest distance.

Alloys (``cuzr-eam``) start from a random fcc solid solution of the requested
composition (exact atom counts, :meth:`~toolkit.lammps.systems.System.atom_counts`;
LAMMPS ``set type/subset``), which is always melted first.

Units are the system's (see :mod:`toolkit.lammps.systems`): LJ reduced units,
or eV / Angstrom / ps / K / bar / g cm^-3 for Al, Si and Cu-Zr.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LammpsError, ToolkitError
from ..fileio import atomic_write, write_json
from ..steps import Step
from ..provenance import provenance
from ..structures import Structure, iter_n2p2, write_n2p2
from .dump import iter_dump
from .progress import progress_bar
from .runner import lammps_command, lammps_version, run_lammps, run_parallel, write_input, write_snippet
from .systems import System, get_system


@dataclass
class StatePoint:
    """Where configurations are sampled.

    ``start``: a crystal phase of the system (``fcc``, ``bcc``, ``hcp``,
    ``diamond``) or ``liquid``. ``temperature`` in K (epsilon/kB for LJ).
    Give either ``density`` (NVT at that density: sigma^-3 or g/cm^3) or
    ``pressure`` (NPT first, in bar or epsilon/sigma^3) or neither (NVT at the
    phase's default lattice constant). ``weight``: relative share of the
    configurations.
    """

    start: str
    temperature: float
    density: float | None = None
    pressure: float | None = None
    weight: float = 1.0

    @property
    def label(self) -> str:
        where = (f"rho{self.density:g}" if self.density is not None
                 else f"P{self.pressure:g}" if self.pressure is not None else "default")
        return f"{self.start}_T{self.temperature:g}_{where}"


#: Per-system defaults (time in the system's units).
DEFAULTS = {
    "lj": dict(configs=1500, interval=0.3, equilibration=10.0, melt_time=10.0, npt_time=0.0),
    "al-eam": dict(configs=400, interval=0.25, equilibration=2.0, melt_time=5.0, npt_time=4.0),
    "si-sw": dict(configs=300, interval=0.2, equilibration=2.0, melt_time=5.0, npt_time=3.0),
    "cuzr-eam": dict(configs=400, interval=0.25, equilibration=3.0, melt_time=5.0, npt_time=4.0),
}

#: 5 GPa in bar.
RAISED_PRESSURE_BAR = 50000.0


def default_state_points(system: System | str, temperatures: Sequence[float] | None = None,
                         densities: Sequence[float] | None = None, starts: Sequence[str] | None = None) -> list[StatePoint]:
    """The built-in state points of a system.

    * ``lj``: every combination of temperatures (default 0.5, 0.75, 1.0, 1.25,
      1.5), densities (0.9, 1.0, 1.1) and starts (fcc, liquid): 30 state points.
    * ``al-eam``: fcc at 10-900 K at 0 and 5 GPa, bcc and hcp at 10-600 K,
      liquid at 900-1700 K at 0 and 5 GPa; ambient fcc and the liquid carry
      twice the weight (sampled most), as in the reference Al data set.
    * ``si-sw``: diamond at 10-1500 K, liquid at 1500-3000 K (1500 K: the
      undercooled liquid, SW melts at 1690 K), at 0 pressure.
    * ``cuzr-eam``: the liquid at 0 pressure from 2300 K down to the
      undercooled liquid at 900 K (liquidus of Cu64Zr36 about 1200 K, glass
      transition of this potential about 700 K): 900, 1000, 1100, 1250, 1400,
      1600, 1800, 2000, 2300 K; the quench (2000 K to 1100 K) stays inside.

    ``temperatures`` / ``densities`` / ``starts`` replace the grids of LJ;
    for Al and Si ``temperatures`` replaces all temperatures (every start at
    every temperature, pressure 0) and ``starts`` filters.
    """
    system = get_system(system) if isinstance(system, str) else system
    if system.name == "lj":
        temps = list(temperatures or (0.5, 0.75, 1.0, 1.25, 1.5))
        rhos = list(densities or (0.9, 1.0, 1.1))
        return [StatePoint(s, float(t), density=float(r))
                for s in (starts or ("fcc", "liquid")) for r in rhos for t in temps]
    if temperatures:
        pts = [StatePoint(s, float(t), density=float(densities[0]) if densities else None,
                          pressure=None if densities else 0.0)
               for s in (starts or [*system.phases, "liquid"]) for t in temperatures]
        return pts
    p0, p1 = 0.0, RAISED_PRESSURE_BAR
    if system.name == "al-eam":
        pts = [StatePoint("fcc", t, pressure=p0, weight=2.0) for t in (10, 100, 300, 500, 700, 900)]
        pts += [StatePoint("fcc", t, pressure=p1) for t in (300, 900)]
        pts += [StatePoint("bcc", t, pressure=p0) for t in (10, 300, 600)]
        pts += [StatePoint("hcp", t, pressure=p0) for t in (10, 300, 600)]
        pts += [StatePoint("liquid", t, pressure=p0, weight=2.0) for t in (900, 1100, 1300, 1500, 1700)]
        pts += [StatePoint("liquid", t, pressure=p1) for t in (1300, 1700)]
    elif system.name == "si-sw":
        pts = [StatePoint("diamond", t, pressure=p0) for t in (10, 300, 600, 900, 1200, 1500)]
        pts += [StatePoint("liquid", t, pressure=p0, weight=1.5) for t in (1500, 1700, 2000, 2500, 3000)]
    elif system.name == "cuzr-eam":
        pts = [StatePoint("liquid", t, pressure=p0) for t in (900, 1000, 1100, 1250, 1400, 1600, 1800, 2000, 2300)]
    else:  # pragma: no cover - new systems need their own list
        raise ToolkitError(f"no default state points for {system.name}")
    for p in pts:
        p.temperature = float(p.temperature)
    if starts:
        pts = [p for p in pts if p.start in starts]
    return pts


def read_state_points(path: str | os.PathLike) -> list[StatePoint]:
    """State points from a YAML/JSON list or a CSV with columns start, temperature[, density, pressure, weight]."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        import pandas as pd

        rows = pd.read_csv(path).to_dict("records")
    else:
        import yaml

        rows = yaml.safe_load(path.read_text())
    out = []
    for i, row in enumerate(rows):
        row = {k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        try:
            out.append(StatePoint(**row))
        except TypeError as exc:
            raise ToolkitError(f"{path}: state point {i}: {exc}") from None
    return out


def split_configs(n_configs: int, weights: Sequence[float]) -> list[int]:
    """Share ``n_configs`` among state points in proportion to ``weights`` (largest remainder; >= 1 each)."""
    w = np.asarray(weights, float)
    if n_configs < len(w):
        raise ToolkitError(f"{n_configs} configurations for {len(w)} state points: need at least one each")
    exact = n_configs * w / w.sum()
    counts = np.maximum(np.floor(exact).astype(int), 1)
    while counts.sum() < n_configs:
        counts[np.argmax(exact - counts)] += 1
    while counts.sum() > n_configs:
        i = np.argmax(np.where(counts > 1, counts - exact, -np.inf))
        counts[i] -= 1
    return counts.tolist()


def derive_seed(seed: int, *keys: int) -> int:
    """A LAMMPS velocity seed (1 .. 2^31-2) derived from a user seed and indices."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *keys]).generate_state(1)[0]
    return int(state % (2**31 - 2)) + 1


def _steps(time_: float, dt: float) -> int:
    return int(round(time_ / dt))


def _state_variables(system: System, sp: StatePoint, n_samples: int, seed: int, interval: float,
                     equilibration: float, melt_time: float, npt_time: float, cells) -> dict:
    dt = system.timestep
    liquid = sp.start == "liquid"
    if liquid:
        phase_name = next(iter(system.phases))  # liquids are melted from the first crystal (fcc / diamond)
    elif sp.start in system.phases:
        phase_name = sp.start
    else:
        raise ToolkitError(f"system {system.name}: unknown start {sp.start!r} (known: {', '.join(system.phases)}, liquid)")
    phase = system.phases[phase_name]
    if system.is_lj and sp.density is None:
        raise ToolkitError(f"LJ state point {sp.label}: needs a density")
    npt_steps = 0
    if sp.pressure is not None and sp.density is None:
        if system.is_lj:
            raise ToolkitError("LJ state points are given by density, not pressure")
        npt_steps = max(4, 4 * (_steps(npt_time, dt) // 4))
    every = max(1, _steps(interval, dt))
    nx, ny, nz = cells or phase.cells
    return {
        "units": system.units, "mass": system.mass, "lattice": phase.lattice,
        "ntypes": len(system.elements), "types_file": "types.in" if len(system.elements) > 1 else "none",
        "lattice_scale": system.lattice_scale(phase_name, sp.density),
        "nx": nx, "ny": ny, "nz": nz, "n_atoms": nx * ny * nz * phase.n_basis, "pair_file": "pair.in", "timestep": dt,
        "skin": 0.3 if system.is_lj else 1.0, "seed": seed,
        "t_start": system.melt_temperature if liquid else 2.0 * sp.temperature,
        "t_melt": system.melt_temperature, "melt_steps": _steps(melt_time, dt) if liquid else 0,
        "temperature": sp.temperature, "tdamp": system.tdamp,
        "pressure": sp.pressure if sp.pressure is not None else 0.0,
        "baro": "iso" if liquid else "aniso", "pdamp": system.pdamp, "npt_steps": npt_steps,
        "equil_steps": max(1, _steps(equilibration, dt)), "every": every, "n_samples": n_samples,
        "thermo_every": every,
    }


def type_lines(system: System, n_atoms: int, seed: int) -> list[str]:
    """LAMMPS lines giving an alloy its masses and composition: random sites of type 1 become types 2, 3, ..."""
    counts = system.atom_counts(n_atoms)
    lines = [f"mass {k + 1} {m!r}  # {e}" for k, (e, m) in enumerate(zip(system.elements, system.masses)) if k > 0]
    lines += [f"set type 1 type/subset {k + 1} {n} {derive_seed(seed, k) % 899999999 + 1}"  # LAMMPS: seed < 9e8
              for k, n in enumerate(counts) if k > 0 and n > 0]
    return lines


def _read_energies(path: Path) -> dict[int, float]:
    out = {}
    with open(path) as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            step, value = line.split()[:2]
            out[int(step)] = float(value)
    return out


def _run_state(system: System, sp: StatePoint, index: int, sp_dir: Path, variables: dict, pair_lines: list[str],
               lmp, keep_dumps: bool, on_step=None) -> list[Structure]:
    """Run (or reuse) one state point; returns its structures."""
    types = type_lines(system, variables["n_atoms"], variables["seed"]) if len(system.elements) > 1 else []
    step = Step(sp_dir, [variables, pair_lines, asdict(sp)] + ([types] if types else []))
    data = sp_dir / "structures.data"
    if step.record() is not None and data.exists():
        return list(iter_n2p2(data))
    if sp_dir.exists():
        shutil.rmtree(sp_dir)  # an unfinished or stale state point restarts from scratch
    sp_dir.mkdir(parents=True)
    write_snippet(sp_dir / "pair.in", pair_lines, comment=f"reference potential of {system.name}")
    if types:
        write_snippet(sp_dir / "types.in", types, comment=f"{system.composition_label}: masses and random sites")
    write_input("generate.in", sp_dir, variables,
                header=f"hdnnp generate {system.name}: state point {index} ({sp.label})")
    name = f"{system.name} state point {index} ({sp.label})"
    run = run_lammps("in.lammps", sp_dir, lmp=lmp, name=name, progress=on_step)
    energies = _read_energies(sp_dir / "energy.dat")
    structures = []
    n_atoms = None
    for frame in iter_dump(sp_dir / "dump.lammpstrj"):
        if frame.step == 0:
            continue  # the last equilibration step; samples start one interval later
        if frame.step not in energies:
            raise LammpsError(f"LAMMPS run {name} ({sp_dir}): no energy for step {frame.step} in energy.dat")
        s = frame.to_structure({k + 1: e for k, e in enumerate(system.elements)}, energy=energies[frame.step],
                               comments=[f"{system.name} state {index} {sp.label} step {frame.step}"])
        s.validate(where=f"{sp_dir / 'dump.lammpstrj'}, step {frame.step}")
        n_atoms = len(s)
        structures.append(s)
    if len(structures) != variables["n_samples"]:
        raise LammpsError(f"LAMMPS run {name} ({sp_dir}): {len(structures)} samples in dump.lammpstrj, "
                          f"expected {variables['n_samples']}")
    write_n2p2(data, structures)
    if not keep_dumps:
        (sp_dir / "dump.lammpstrj").unlink()
    step.finish([data], state_point=asdict(sp), n_structures=len(structures), n_atoms=n_atoms,
                wall_time_s=run.wall_time, timesteps_per_s=run.performance)
    return structures


def is_rattled(structure: Structure) -> bool:
    """Whether a structure is a rattled copy written by :func:`generate` (its comment line says so)."""
    return any(" rattled " in c for c in structure.comments)


def _rattle(system: System, structures: list[Structure], rows: list[dict], n: int, sigma: float, seed: int,
            lmp) -> tuple[list[Structure], list[dict]]:
    """``n`` rattled copies of samples (Gaussian ``sigma`` per component) with the potential's energies and forces."""
    from .evaluate import evaluate

    rng = np.random.default_rng(derive_seed(seed, 0x7A77))
    sources = np.sort(rng.choice(len(structures), n, replace=n > len(structures)))
    copies = []
    for i in sources:
        s = structures[i].copy()
        s.positions = s.positions + rng.normal(0.0, sigma, s.positions.shape)
        frac = np.linalg.solve(s.cell.T, s.positions.T).T
        s.positions = (frac - np.floor(frac)) @ s.cell  # back into the cell, as LAMMPS wants them
        s.comments = [f"{system.name} rattled sigma {sigma:g} from structure {i} ({structures[i].comments[-1]})"]
        copies.append(s)
    copies = evaluate(copies, system, "reference", lmp=lmp)
    for s in copies:
        s.validate(where=f"rattled copy ({s.comments[-1]})")
    new_rows = [rows[i] | {"start": "rattled", "rattle_sigma": sigma, "source": int(i),
                           "energy_per_atom": s.energy / len(s)} for i, s in zip(sources, copies)]
    return copies, new_rows


def generate(system: str | System, out_dir: str | os.PathLike, n_configs: int | None = None, seed: int = 0,
             lmp: str | Sequence[str] | None = None, *, state_points: Sequence[StatePoint] | None = None,
             temperatures: Sequence[float] | None = None, densities: Sequence[float] | None = None,
             starts: Sequence[str] | None = None, interval: float | None = None,
             equilibration: float | None = None, melt_time: float | None = None, npt_time: float | None = None,
             cells: Sequence[int] | None = None, jobs: int = 1, keep_dumps: bool = False,
             show_progress: bool = True, composition: str | dict | None = None, rattled: int = 0,
             rattle_sigma: float = 0.1) -> Path:
    """Generate a reference data set; returns ``out_dir/input.data``.

    Parameters
    ----------
    system : ``"lj"``, ``"al-eam"`` (``"al"``), ``"si-sw"`` (``"si"``) or
        ``"cuzr-eam"`` (``"cuzr"``).
    out_dir : output folder.
    n_configs : total number of configurations, shared among state points by
        weight (default: 1500 LJ, 400 Al, 300 Si). The reference LJ study:
        ``temperatures=linspace(0.5, 1.5, 7), densities=(0.9, 1.0, 1.1),
        n_configs=28000`` (1,333 per state point).
    seed : seeds every state point's initial velocities.
    lmp : LAMMPS command (default ``$HDNNP_LMP`` or the venv's ``lmp``).
    state_points : explicit state points (else :func:`default_state_points`
        with ``temperatures``, ``densities``, ``starts``).
    interval : time between samples (tau or ps; default 0.3 / 0.25 / 0.2).
    equilibration : NVT equilibration before sampling (time units).
    melt_time : melting time of liquid starts; npt_time: NPT run at a target pressure.
    cells : unit cells along x, y, z (default: 256 atoms; 216 for Si).
    jobs : state points run at the same time (each one LAMMPS process).
    keep_dumps : keep each state point's ``dump.lammpstrj``.
    composition : alloys only: ``"Cu50Zr50"`` or ``{"Cu": 0.5, "Zr": 0.5}``
        (default: the system's, Cu64Zr36).
    rattled : rattled copies appended after the ``n_configs`` MD samples, of
        samples drawn evenly at random (seeded by ``seed``).
    rattle_sigma : their displacement per Cartesian component (length units).
    """
    system = get_system(system) if isinstance(system, str) else system
    if composition is not None:
        if len(system.elements) == 1:
            raise ToolkitError(f"system {system.name} has one element; a composition is for alloys (cuzr-eam)")
        system = system.with_composition(composition)
    defaults = DEFAULTS[system.name]
    n_configs = int(n_configs or defaults["configs"])
    if rattled < 0 or (rattled and not rattle_sigma > 0):
        raise ToolkitError(f"rattled copies (--rattled, --rattle-sigma): need a count >= 0 and a sigma > 0 "
                           f"(got {rattled}, {rattle_sigma})")
    interval = float(interval if interval is not None else defaults["interval"])
    equilibration = float(equilibration if equilibration is not None else defaults["equilibration"])
    melt_time = float(melt_time if melt_time is not None else defaults["melt_time"])
    npt_time = float(npt_time if npt_time is not None else defaults["npt_time"])
    points = list(state_points) if state_points else default_state_points(system, temperatures, densities, starts)
    if not points:
        raise ToolkitError("no state points selected")
    counts = split_configs(n_configs, [p.weight for p in points])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = lammps_command(lmp)
    pair_lines = system.pair_lines()
    settings = {"system": system.name, "n_configs": n_configs, "interval": interval, "equilibration": equilibration,
                "melt_time": melt_time, "npt_time": npt_time, "cells": list(cells) if cells else None,
                "timestep": system.timestep, "tdamp": system.tdamp, "pdamp": system.pdamp,
                "melt_temperature": system.melt_temperature, "thermostat": "Nose-Hoover NVT (fix nvt)",
                "pair_lines": pair_lines, "units": system.units, "element": system.element,
                "elements": list(system.elements), "composition": dict(zip(system.elements, system.fractions)),
                "rattled": int(rattled), "rattle_sigma": float(rattle_sigma) if rattled else None,
                "lammps_command": cmd, "state_points": [asdict(p) | {"n_configs": c} for p, c in zip(points, counts)]}
    jobs_list = []
    for i, (sp, n) in enumerate(zip(points, counts)):
        variables = _state_variables(system, sp, n, derive_seed(seed, i), interval, equilibration, melt_time,
                                     npt_time, cells)
        jobs_list.append((i, sp, n, out_dir / "states" / f"sp_{i:03d}_{sp.label}", variables))

    t0 = time.perf_counter()
    results: dict[int, list[Structure]] = {}
    with progress_bar(show_progress) as bar:
        task = bar.add_task(f"generate {system.name}", total=n_configs, status="")

        def work(job):
            i, sp, n, sp_dir, variables = job
            bar.update(task, status=sp.label)
            structures = _run_state(system, sp, i, sp_dir, variables, pair_lines, cmd, keep_dumps)
            bar.advance(task, n)
            return i, structures

        for i, structures in run_parallel(work, jobs_list, jobs):
            results[i] = structures
    wall = time.perf_counter() - t0

    structures, rows = [], []
    for i, sp, n, sp_dir, variables in jobs_list:
        for s in results[i]:
            lx, ly, lz = np.linalg.norm(s.cell, axis=1)
            step = int(s.comments[-1].rsplit(" ", 1)[-1])
            rows.append({
                "structure": len(structures), "state": i, "system": system.name, "start": sp.start,
                "temperature": sp.temperature, "density_target": sp.density, "pressure_target": sp.pressure,
                "density": system.structure_density(s.elements, s.volume), "n_atoms": len(s),
                **({f"n_{e}": s.elements.count(e) for e in system.elements} if len(system.elements) > 1 else {}),
                "lx": lx, "ly": ly, "lz": lz, "step": step, "time": step * system.timestep,
                "energy_per_atom": s.energy / len(s), "seed": variables["seed"], "directory": str(sp_dir.relative_to(out_dir)),
            })
            structures.append(s)
    if rattled:
        for s, row in zip(*_rattle(system, structures, rows, rattled, rattle_sigma, seed, cmd)):
            rows.append(row | {"structure": len(structures)})
            structures.append(s)
    data_path = write_n2p2(out_dir / "input.data", structures)
    import pandas as pd

    table = pd.DataFrame(rows)
    with atomic_write(out_dir / "states.csv") as fh:
        table.to_csv(fh, index=False)
    with atomic_write(out_dir / "state_points.csv") as fh:
        pd.DataFrame([asdict(p) | {"state": i, "label": p.label, "n_configs": c, "directory": f"states/sp_{i:03d}_{p.label}"}
                      for i, (p, c) in enumerate(zip(points, counts))]).to_csv(fh, index=False)
    record = provenance(settings, seed=seed)
    record["versions"]["lammps_executable"] = lammps_version(cmd)
    record["wall_time_s"] = wall
    record["n_structures"] = len(structures)
    record["units"] = {"length": system.length_unit, "energy": system.energy_unit, "time": system.time_unit,
                       "temperature": system.temperature_unit, "density": system.density_unit,
                       "pressure": system.pressure_unit}
    write_json(out_dir / "generate.json", record)
    return data_path
