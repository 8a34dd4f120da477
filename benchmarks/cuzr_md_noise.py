"""How noisy are the Cu-Zr demo's MD rows? Run-to-run scatter of partial first peaks and D in Mendelev's EAM.

The Cu-Zr report compares the selected potential with the EAM per temperature:
partial-RDF first-peak heights within 2 % and D per element within 10 %, each a
mean over independent runs. Whether a perfect potential passes depends on the
run-to-run scatter of those numbers in a 256-atom box, which this script
measures in the reference itself: ``--runs`` EAM quenches with the demo's
protocol (2000 -> 1400 K, 60 ps per temperature), trajectory frames every
``--traj-every`` ps, then per run and temperature

* each partial's first-peak height (:func:`toolkit.lammps.rdf.first_peak`)
  from every frame and from every ``--thin``-th frame (the demo's 0.5 ps):
  does a denser trajectory cut the scatter?
* D of Cu and Zr (all time origins) for several Einstein-fit windows
  (fractions of the longest lag, half the trajectory).

Writes ``benchmarks/results/cuzr_md_noise.csv`` (one row per quantity,
temperature and variant: mean, relative SD over runs) and ``.json`` (settings,
versions, and for the demo's run counts the standard error of a deviation and the
chance that a potential identical to the EAM fails a row, two-sided normal).

    .venv/bin/python benchmarks/cuzr_md_noise.py --work W --runs 6 --jobs 2
    .venv/bin/python benchmarks/cuzr_md_noise.py --md-dir W/eam   # analyse an existing quench
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ((0.2, 1.0), (0.1, 1.0), (0.1, 0.5), (0.05, 0.3))


def run_reference(work: Path, runs: int, jobs: int, traj_every: float, seed: int) -> Path:
    from toolkit.lammps.quench import quench

    return quench("reference", work / "eam", system="cuzr-eam", runs=runs, seed=seed, temperatures=[2000, 1700, 1400],
                  measurement=60.0, traj_every=traj_every, jobs=jobs, show_progress=True)


def measure(md_dir: Path, thin: int) -> list[dict]:
    from toolkit.lammps.msd import read_unwrapped
    from toolkit.lammps.partials import dump_types, element_diffusion, partial_first_peaks, partial_rdfs
    from toolkit.lammps.systems import get_system

    proto = json.loads((md_dir / "quench.json").read_text())["protocol"]
    system = get_system(proto["system"])  # the demo's types, masses and RDF cutoff
    names = {k + 1: e for k, e in enumerate(system.elements)}
    masses = dict(zip(system.elements, system.masses))
    rows = []
    for t in proto["temperatures"]:
        trajs = sorted(md_dir.glob(f"run_*/T_{t:g}/traj.lammpstrj"))
        per = {}
        for tr in trajs:
            for every in (1, thin):
                r, p, n = partial_rdfs([tr], system.rdf_cutoff, bins=200, every=every, type_names=names)
                for (a, b), (_, h) in partial_first_peaks(r, p).items():
                    per.setdefault((f"g_peak {a}-{b}", f"frames every {every * proto['traj_every']:g} ps"), []).append(h)
            tt, pos = read_unwrapped(tr, proto["timestep"])
            elements = [names[k] for k in dump_types(tr)]
            for w in WINDOWS:
                for e, fit in element_diffusion(tt, pos, elements, masses, *w).items():
                    per.setdefault((f"D {e}", f"fit {w[0]:g}-{w[1]:g} of the longest lag"), []).append(fit.D)
        for (q, variant), v in per.items():
            v = np.asarray(v)
            rows.append({"temperature": t, "quantity": q, "variant": variant, "runs": len(v), "mean": v.mean(),
                         "rel_sd": v.std(ddof=1) / v.mean()})
    return rows


def fail_chance(rel_sd: float, runs_mine: int, runs_ref: int, tol: float) -> tuple[float, float]:
    """(standard error of mine/ref - 1, P(|deviation| > tol)) for a potential identical to the reference."""
    se = rel_sd * math.sqrt(1 / runs_mine + 1 / runs_ref)
    return se, math.erfc(tol / se / math.sqrt(2))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, help="scratch folder of the EAM quench")
    p.add_argument("--md-dir", type=Path, help="an existing `hdnnp quench reference --system cuzr` folder instead")
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--traj-every", type=float, default=0.1, help="ps between frames (default 0.1)")
    p.add_argument("--thin", type=int, default=5, help="also every N-th frame (default 5: the demo's 0.5 ps)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cuzr_md_noise")
    a = p.parse_args(argv)
    if (a.work is None) == (a.md_dir is None):
        p.error("give --work (run the quench) or --md-dir (analyse one)")
    t0 = time.perf_counter()
    md_dir = a.md_dir or run_reference(a.work, a.runs, a.jobs, a.traj_every, a.seed)
    t_md = time.perf_counter() - t0
    rows = measure(md_dir, a.thin)
    import pandas as pd

    import toolkit

    df = pd.DataFrame(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out.with_suffix(".csv"), index=False, float_format="%.5g")
    # the demo's run counts before (4 selected, 6 EAM), now (4, 8), and (6, 12), tolerances 2 % (peaks) and 10 % (D)
    chances = []
    for r in rows:
        tol = 0.02 if r["quantity"].startswith("g_peak") else 0.10
        for mine, ref in ((4, 6), (4, 8), (6, 12)):
            se, pf = fail_chance(r["rel_sd"], mine, ref, tol)
            chances.append({**{k: r[k] for k in ("temperature", "quantity", "variant")}, "runs": [mine, ref],
                            "deviation_se": round(se, 5), "p_fail_if_identical": round(pf, 4)})
    meta = {"md_dir": str(md_dir), "runs": int(df["runs"].max()), "thin": a.thin, "seed": a.seed,
            "md_seconds": round(t_md, 1), "toolkit": toolkit.__version__, "numpy": np.__version__,
            "fail_chances": chances}
    a.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(df.assign(rel_sd=(100 * df["rel_sd"]).round(2)).rename(columns={"rel_sd": "rel_sd_%"}).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
