"""Speed of potentials in LAMMPS: timesteps per second on the same system.

Every potential runs the same MD (the system's quench starting crystal at its
quench density, Nose-Hoover NVT at the first quench temperature; 256 atoms by
default) for ``steps`` steps after a short warm-up, ``repeats`` times, each a
fresh LAMMPS process. The speed is LAMMPS's own ``Performance: ...
timesteps/s`` of the timed run (setup excluded).

Outputs: ``bench.csv`` (one row per potential: median, min, max, interquartile
range of timesteps/s, and the median in ns/day or tau/day), ``bench_repeats.csv``
(every repeat), ``bench.png`` (bar chart, median with min-max whiskers), all
beside the CSV; LAMMPS run folders in ``bench_runs/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LammpsError, ToolkitError
from ..fileio import atomic_path, atomic_write, write_json
from ..provenance import provenance
from .generate import derive_seed, type_lines
from .potentials import resolve_potential
from .progress import progress_bar
from .runner import lammps_command, lammps_version, parse_performance, run_lammps, write_input, write_snippet
from .systems import get_system


def bench(potentials: Sequence[str | os.PathLike], out_csv: str | os.PathLike, system: str | None = None,
          steps: int = 1000, repeats: int = 3, lmp: str | Sequence[str] | None = None, warmup: int = 100,
          labels: Sequence[str] | None = None, cells: Sequence[int] | None = None, seed: int = 0,
          show_progress: bool = True):
    """Benchmark potentials; returns the summary :class:`pandas.DataFrame` (also written to ``out_csv``).

    ``potentials``: n2p2 directories, ``model.pt`` files or ``"reference"``.
    ``steps``: timed MD steps per repeat; ``warmup``: untimed steps before.
    Speeds in timesteps/s; ``per_day`` in ns/day (metal) or tau/day (lj).
    """
    import pandas as pd

    if not potentials:
        raise ToolkitError("no potentials to benchmark")
    if repeats < 1 or steps < 1:
        raise ToolkitError("steps and repeats must be at least 1")
    out_csv = Path(out_csv)
    stem = out_csv.with_suffix("")
    work = Path(f"{stem}_runs")
    cmd = lammps_command(lmp)
    sys_ = get_system(system) if system else None
    specs = []
    for i, pot in enumerate(potentials):
        spec, sys_i = resolve_potential(pot, sys_, work_dir=work / f"potential_{i}", lmp=cmd,
                                        label=labels[i] if labels else None)
        if sys_ is None:
            sys_ = sys_i
        elif sys_i.name != sys_.name:
            raise ToolkitError(f"{pot}: a {sys_i.name} potential, but the benchmark system is {sys_.name}")
        specs.append(spec)
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.label in seen:
            seen[spec.label] += 1
            spec.label = f"{spec.label}_{seen[spec.label]}"
        else:
            seen[spec.label] = 0
    phase_name = next(iter(sys_.phases))
    phase = sys_.phases[phase_name]
    temperature = sys_.quench_temperatures[0]
    rows = []
    with progress_bar(show_progress) as bar:
        task = bar.add_task("bench", total=len(specs) * repeats, status="")
        for spec in specs:
            d0 = work / spec.label
            d0.mkdir(parents=True, exist_ok=True)
            write_snippet(d0 / "pair.in", spec.pair_lines, comment=spec.label)
            for k in range(repeats):
                bar.update(task, status=f"{spec.label} #{k + 1}")
                d = d0 / f"repeat_{k}"
                d.mkdir(parents=True, exist_ok=True)
                nx, ny, nz = cells or phase.cells
                alloy = {}
                if len(sys_.elements) > 1:  # random sites of the lattice become types 2, 3, ...
                    alloy = {"ntypes": len(sys_.elements), "types_file": "types.in"}
                    write_snippet(d / "types.in", type_lines(sys_, nx * ny * nz * phase.n_basis, derive_seed(seed, k)),
                                  comment=f"{sys_.composition_label}: masses and random sites")
                write_input("bench.in", d, {**alloy,
                    "units": sys_.units, "mass": sys_.mass, "lattice": phase.lattice,
                    "lattice_scale": sys_.lattice_scale(phase_name, sys_.quench_density),
                    "nx": nx, "ny": ny, "nz": nz, "pair_file": "../pair.in", "timestep": sys_.timestep,
                    "skin": 0.3 if sys_.is_lj else 1.0, "seed": derive_seed(seed, k), "temperature": temperature,
                    "tdamp": sys_.tdamp, "warmup": warmup, "steps": steps,
                }, header=f"hdnnp bench: {spec.label}, repeat {k}")
                run = run_lammps("in.lammps", d, lmp=cmd, name=f"bench {spec.label} repeat {k}")
                perf = parse_performance(run.log)
                if not perf:
                    raise LammpsError(f"LAMMPS run bench {spec.label} repeat {k} ({d}): no 'Performance:' line in {run.log}")
                rows.append({"label": spec.label, "kind": spec.kind, "repeat": k, "timesteps_per_s": perf[-1],
                             "wall_time_s": run.wall_time, "path": spec.path or "reference"})
                bar.advance(task)
    raw = pd.DataFrame(rows)
    day = 86400.0 * sys_.timestep * (1e-3 if sys_.units == "metal" else 1.0)  # ns/day (ps -> ns) or tau/day
    summary = []
    for spec in specs:
        v = raw.loc[raw.label == spec.label, "timesteps_per_s"].to_numpy()
        q1, q3 = np.percentile(v, [25, 75])
        summary.append({"label": spec.label, "kind": spec.kind, "system": sys_.name, "n_atoms": int(np.prod(cells or phase.cells)) * phase.n_basis,
                        "steps": steps, "repeats": repeats, "median": float(np.median(v)), "min": float(v.min()),
                        "max": float(v.max()), "iqr": float(q3 - q1),
                        "rel_spread": float((v.max() - v.min()) / np.median(v)),
                        "per_day_median": float(np.median(v) * day),
                        "per_day_unit": "ns/day" if sys_.units == "metal" else "tau/day",
                        "path": spec.path or "reference"})
    table = pd.DataFrame(summary)
    ref = table.loc[table.kind == "reference", "median"]
    if len(ref):
        table["speed_vs_reference"] = table["median"] / float(ref.iloc[0])
    with atomic_write(out_csv) as fh:
        table.to_csv(fh, index=False)
    with atomic_write(Path(f"{stem}_repeats.csv")) as fh:
        raw.to_csv(fh, index=False)
    _plot(table, out_csv.with_suffix(".png"))
    record = provenance({"potentials": [s.as_dict() for s in specs], "system": sys_.name, "steps": steps,
                         "repeats": repeats, "warmup": warmup, "lammps_command": cmd}, seed=seed)
    record["versions"]["lammps_executable"] = lammps_version(cmd)
    record["results"] = table.to_dict("records")
    write_json(Path(f"{stem}.json"), record)
    return table


def _plot(table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.5 + 1.0 * len(table), 3.5))
    x = np.arange(len(table))
    med = table["median"].to_numpy()
    err = np.vstack([med - table["min"].to_numpy(), table["max"].to_numpy() - med])
    ax.bar(x, med, yerr=err, capsize=4, color=["0.4" if k == "reference" else "C0" for k in table["kind"]])
    ax.set_xticks(x)
    ax.set_xticklabels(table["label"], rotation=30, ha="right")
    ax.set_ylabel("timesteps / s")
    ax.set_yscale("log" if med.max() / max(med.min(), 1e-12) > 30 else "linear")
    ax.set_title(f"{table['system'].iloc[0]}, {int(table['steps'].iloc[0])} steps, median of {int(table['repeats'].iloc[0])}",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)
