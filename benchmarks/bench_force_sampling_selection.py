"""Does storing the derivatives of a sample of force atoms change the LJ demo's selected set?

The LJ demo's selection (``toolkit.demo.selection_config`` with ``DEFAULT_SIZES``,
seed 0: 300 of the 1,260 structures of 32 atoms of step 1, the 22 candidates,
energies and forces, the AGL path at lambdas 200-550, the choice rule) run twice
with ``hdnnp select``: with the derivatives of every atom (as the demo), and with
``data.force_atoms: 0.1`` (10 % of the atoms, 4 of 32, one seeded draw per
structure). Repeats, fakes and baselines are off (they do not change the choice);
the choice's MD check is the demo's (``--md-check off`` to skip it). Both chosen
sets are reported. If they differ, both chosen models are exported to n2p2 and
quenched with the lj/cut reference (the demo's temperatures and density, shorter
runs: ``--runs``, ``--melt``, ``--equilibration``, ``--measurement``) and analysed
(D ratio and RDF first peak against lj/cut at every temperature).

Writes ``benchmarks/results/force_sampling_selection.csv`` (one row per mode, and
per mode and temperature if quenched) and ``.json`` (settings, versions, load).

    .venv/bin/python benchmarks/bench_force_sampling_selection.py --work WORK [--force-atoms 0.1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "toolkit", *args], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _data(work: Path, sizes, seed: int) -> Path:
    """Step 1 of the demo (``generate`` with the demo's sizes) and its selection subset; returns the subset."""
    from toolkit.lammps.generate import generate
    from toolkit.structures import read_structures, write_n2p2

    data = work / "data"
    if not (data / "input.data").is_file():
        generate(sizes.system, data, n_configs=sizes.configs, seed=seed, temperatures=sizes.data_temperatures,
                 densities=sizes.data_densities, starts=sizes.data_starts, cells=sizes.cells, jobs=1,
                 show_progress=False)
    subset = work / "structures.data"
    if not subset.is_file():
        structs = read_structures(data / "input.data")
        take = np.sort(np.random.default_rng(seed).choice(len(structs), min(sizes.select_structures, len(structs)),
                                                          replace=False))
        write_n2p2(subset, [structs[i] for i in take])
    return subset


def _select(work: Path, name: str, sizes, seed: int, subset: Path) -> dict:
    """``hdnnp select`` with the demo's config (``sizes``); returns selected.json plus the wall time."""
    import yaml

    from toolkit.demo import selection_config
    from toolkit.fileio import atomic_write

    run = work / name
    run.mkdir(parents=True, exist_ok=True)
    cfg = selection_config(sizes, seed, subset, run / "features.h5")
    cfg["selection"]["baselines"] = []
    with atomic_write(run / "config.yaml") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    timing = run / "select_seconds.json"  # the wall time of the run that wrote selected.json (reused later)
    if not (run / "select" / "selected.json").is_file():
        t0 = time.perf_counter()
        _run(["select", str(run / "config.yaml"), "-o", str(run / "select")])
        with atomic_write(timing) as fh:
            json.dump({"seconds": round(time.perf_counter() - t0, 1), "load_average": os.getloadavg()}, fh)
    sel = json.loads((run / "select" / "selected.json").read_text())
    sel["seconds"] = json.loads(timing.read_text())["seconds"] if timing.is_file() else None
    return sel


def _quench_and_analyze(work: Path, pots: dict, sizes, args) -> dict:
    """Quench lj/cut and every potential of ``pots`` (name -> n2p2 folder); the comparisons against lj/cut."""
    from toolkit.lammps.analysis import analyze
    from toolkit.lammps.guard import data_min_distance
    from toolkit.lammps.quench import quench

    kw = {"temperatures": [float(t) for t in sizes.md_temperatures], "density": float(sizes.md_density),
          "melt_time": args.melt, "equilibration": args.equilibration, "measurement": args.measurement,
          "traj_every": float(min(sizes.traj_every, args.measurement / 20)),
          "msd_every": float(min(0.1, args.measurement / 20))}
    guard = {"data_min_distance": data_min_distance(work / "data" / "input.data", sizes.rc),
             "distance_margin": sizes.guard_distance_margin, "max_ew_rate": sizes.guard_max_ew_rate}
    md = work / "md"
    quench("reference", md / "reference", system="lj", runs=args.reference_runs, seed=0, label="lj/cut",
           show_progress=False, guard=guard, **kw)
    analyze(md / "reference", out_dir=work / "analysis" / "reference", msd_source=sizes.msd_source)
    out = {}
    for name, pot in pots.items():
        quench(pot, md / name, system="lj", runs=args.runs, seed=0, label=name, show_progress=False, guard=guard,
               **kw)
        res = analyze(md / name, reference_dir=md / "reference", out_dir=work / "analysis" / name,
                      msd_source=sizes.msd_source, allow_failed=True)
        out[name] = [{"temperature": float(r["temperature"]), "D_ratio": float(r["D_ratio"]),
                      "rdf_peak_height_dev": float(r["g_peak_rel_dev"]), "rdf_peak_position_dev": float(r["r_peak_rel_dev"])}
                     for _, r in res["comparison"].iterrows()]
    return {"protocol": kw, "runs": args.runs, "reference_runs": args.reference_runs, "comparison": out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force-atoms", type=float, default=0.1, help="data.force_atoms of the sampled run (fraction)")
    p.add_argument("--md-check", choices=("auto", "off"), default="auto", help="selection.md_check (the demo: auto)")
    p.add_argument("--runs", type=int, default=2, help="MD runs per selected potential (the demo: 4)")
    p.add_argument("--reference-runs", type=int, default=2, help="MD runs of lj/cut (the demo: 8)")
    p.add_argument("--melt", type=float, default=5.0, help="melting time, tau (the demo: 10)")
    p.add_argument("--equilibration", type=float, default=5.0, help="per temperature, tau (the demo: 10)")
    p.add_argument("--measurement", type=float, default=20.0, help="per temperature, tau (the demo: 50)")
    p.add_argument("--always-md", action="store_true", help="quench both even if the chosen sets are equal")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "force_sampling_selection.csv"))
    args = p.parse_args(argv)
    import torch

    from toolkit import __version__
    from toolkit.demo import DEFAULT_SIZES
    from toolkit.export import export_n2p2
    from toolkit.fileio import atomic_write
    from toolkit.potential import load_potential

    work = Path(args.work)
    base = DEFAULT_SIZES.replace(repeats=0, fakes=0, md_check=args.md_check != "off" and "auto")
    subset = _data(work, base, args.seed)
    modes = {"every atom": None, f"force_atoms {args.force_atoms:g}": args.force_atoms}
    sel, rows = {}, []
    for (mode, k), name in zip(modes.items(), ("all_atoms", "sampled")):
        sizes = base.replace(select_force_atoms=k)
        sel[mode] = s = _select(work, name, sizes, args.seed, subset)
        chosen = s["sets"]["AGL"]["functions"]
        rows.append({"mode": mode, "chosen_set": " ".join(map(str, chosen)), "n_functions": len(chosen),
                     "select_seconds": s["seconds"],
                     "chosen_model": os.path.relpath(s["chosen_model"], (work / name).resolve())})
        print(rows[-1], flush=True)
    sets = [r["chosen_set"] for r in rows]
    md = None
    if sets[0] != sets[1] or args.always_md:
        pots = {}
        for (mode, s), name in zip(sel.items(), ("all_atoms", "sampled")):
            pots[name] = export_n2p2(load_potential(s["chosen_model"]), work / "potentials" / name,
                                     comment=f"chosen set of the LJ demo selection, {mode}")
        md = _quench_and_analyze(work, pots, base, args)
    summary = {"sizes": "toolkit.demo.DEFAULT_SIZES (repeats 0, fakes 0, baselines none)", "seed": args.seed,
               "select_structures": base.select_structures, "md_check": args.md_check,
               "force_atoms": args.force_atoms, "same_set": sets[0] == sets[1],
               "chosen": {r["mode"]: r["chosen_set"] for r in rows}, "md": md,
               "load_average": os.getloadavg(), "toolkit": __version__, "torch": torch.__version__,
               "numpy": np.__version__, "python": sys.version.split()[0]}
    out = Path(args.out)
    fields = ["mode", "chosen_set", "n_functions", "select_seconds", "chosen_model", "temperature", "D_ratio",
              "rdf_peak_height_dev", "rdf_peak_position_dev"]
    if md:
        name_of = dict(zip(["all_atoms", "sampled"], [r["mode"] for r in rows]))
        rows += [{"mode": name_of[n], **c} for n, cs in md["comparison"].items() for c in cs]
    with atomic_write(out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    with atomic_write(out.with_suffix(".json")) as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
