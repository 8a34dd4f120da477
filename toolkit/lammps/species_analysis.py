"""Per-element and angular analysis of a quench directory (alloys and covalent liquids).

:func:`species_tables` reads the trajectories of an ``hdnnp quench`` directory
(``run_*/T_*/traj.lammpstrj`` with ``id type ... x y z ix iy iz``) and returns
DataFrames, :func:`write_species_tables` writes them to ``out_dir``:

=======================  ========================================================
partial_rdf.csv          g_ab(r) per temperature (long format: pair, r, g)
partial_rdf_peaks.csv    first-peak position and height of every pair and temperature (standard errors over runs)
diffusion_elements.csv   D of every element, run and temperature (all time origins)
diffusion_elements_summary.csv   per element and temperature: mean D, standard error, runs
arrhenius_elements.csv   D0, Ea with standard errors per element
bond_angles.csv          bond-angle density per temperature (bonds: first minimum of g)
bond_angle_peaks.csv     main bond-angle peak per temperature
=======================  ========================================================

Formulas live in :mod:`toolkit.lammps.partials` (partial RDFs, per-element
MSD, Arrhenius per element) and :mod:`toolkit.lammps.angles`. LAMMPS type k
is the system's k-th element (:attr:`toolkit.lammps.systems.System.elements`).
Units: r in Angstrom, D in Angstrom^2/ps, Ea in eV, angles in degrees.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ToolkitError
from ..fileio import atomic_write, read_json
from ..stats import ratio_sem
from .angles import angle_peak, bond_angle_distribution, first_minimum
from .msd import read_unwrapped
from .partials import dump_types, element_arrhenius, element_diffusion, partial_first_peaks, partial_rdfs
from .quench import step_name
from .rdf import compute_rdf, peak_sem
from .systems import get_system


def _steps(md_dir: Path) -> tuple[dict, dict[float, list[Path]]]:
    meta_path = md_dir / "quench.json"
    if not meta_path.exists():
        raise ToolkitError(f"{md_dir}: not a quench directory (no quench.json; run 'hdnnp quench' first)")
    proto = read_json(meta_path)["protocol"]
    steps = {}
    for t in proto["temperatures"]:
        dirs = sorted(d for d in md_dir.glob(f"run_*/{step_name(t)}") if (d / "done.json").exists())
        if dirs:
            steps[float(t)] = dirs
    if not steps:
        raise ToolkitError(f"{md_dir}: no finished temperature steps (no run_*/T_*/done.json)")
    return proto, steps


def species_tables(md_dir: str | os.PathLike, label: str | None = None, rdf_cutoff: float | None = None,
                   rdf_bins: int = 200, bond_cutoff: float | None = None, angles: bool = True,
                   fit_start: float = 0.2, fit_end: float = 1.0) -> dict:
    """DataFrames of the module docstring for one quench directory.

    ``bond_cutoff``: bonds for the angle distribution (default: the system's
    ``bond_cutoff``, 3.1 Angstrom for Si, else the first minimum of the total
    g(r) at each temperature). ``angles=False`` skips them.
    """
    import pandas as pd

    md_dir = Path(md_dir)
    proto, steps = _steps(md_dir)
    system = get_system(proto["system"])
    names = {k + 1: e for k, e in enumerate(system.elements)}
    masses = dict(zip(system.elements, system.masses))
    label = label or md_dir.name
    cutoff = rdf_cutoff or system.rdf_cutoff
    rdf_rows, peak_rows, d_rows, bad_rows, bad_peaks = [], [], [], [], []
    for t, dirs in steps.items():
        trajs = [d / "traj.lammpstrj" for d in dirs]
        per_run = [partial_rdfs([tr], cutoff, bins=rdf_bins, type_names=names) for tr in trajs]
        r, n = per_run[0][0], sum(k for _, _, k in per_run)
        if any(len(x) != len(r) or not np.allclose(x, r) or set(p) != set(per_run[0][1]) for x, p, _ in per_run):
            raise ToolkitError(f"{md_dir}: the runs at T = {t:g} have different RDF bins or pairs")
        # the average over every frame of every run
        partials = {pair: sum(p[pair] * k for _, p, k in per_run) / n for pair in per_run[0][1]}
        for (a, b), g in partials.items():
            rdf_rows.append(pd.DataFrame({"source": label, "temperature": t, "pair": f"{a}-{b}", "r": r, "g": g}))
        for (a, b), (rp, gp) in partial_first_peaks(r, partials).items():
            r_sem, g_sem = peak_sem(r, [p[(a, b)] for _, p, _ in per_run])
            peak_rows.append({"source": label, "temperature": t, "pair": f"{a}-{b}", "r_peak": rp, "g_peak": gp,
                              "r_peak_sem": r_sem, "g_peak_sem": g_sem, "n_frames": n, "n_runs": len(dirs)})
        for d in dirs:
            tt, pos = read_unwrapped(d / "traj.lammpstrj", proto["timestep"])
            elements = [names[k] for k in dump_types(d / "traj.lammpstrj")]
            for e, fit in element_diffusion(tt, pos, elements, masses, fit_start, fit_end).items():
                d_rows.append({"source": label, "temperature": t, "run": int(d.parent.name.split("_")[-1]),
                               "element": e, "D": fit.D, "D_fit_stderr": fit.D_stderr, "alpha": fit.alpha,
                               "fit_start": fit.t_start, "fit_end": fit.t_end})
        if angles:
            rc = bond_cutoff or system.bond_cutoff or first_minimum(*compute_rdf(trajs, cutoff=cutoff, bins=rdf_bins)[:2])
            theta, p, _ = bond_angle_distribution(trajs, rc, type_names=names)
            bad_rows.append(pd.DataFrame({"source": label, "temperature": t, "theta": theta, "p": p}))
            th, ph = angle_peak(theta, p)
            bad_peaks.append({"source": label, "temperature": t, "theta_peak": th, "p_peak": ph, "bond_cutoff": rc})
    rank = {e: i for i, e in enumerate(system.elements)}
    runs = pd.DataFrame(d_rows)
    runs = runs.sort_values(["element", "temperature", "run"], key=lambda c: c.map(rank) if c.name == "element" else
                            (-c if c.name == "temperature" else c)).reset_index(drop=True)
    summary = (runs.groupby(["element", "temperature"], sort=False)["D"]
               .agg(D_mean="mean", D_std=lambda x: x.std(ddof=1) if len(x) > 1 else np.nan, n_runs="count")
               .reset_index())
    summary["D_sem"] = summary["D_std"] / np.sqrt(summary["n_runs"])
    summary.insert(0, "source", label)
    out = {"partial_rdf": pd.concat(rdf_rows, ignore_index=True), "partial_rdf_peaks": pd.DataFrame(peak_rows),
           "diffusion_elements": runs, "diffusion_elements_summary": summary}
    if summary["temperature"].nunique() >= 2:
        temps, D, se = _by_element(summary)
        fits = element_arrhenius(temps, D, system.kB, se)
        out["arrhenius_elements"] = pd.DataFrame([{"source": label, "element": e, **f.as_dict()} for e, f in fits.items()])
    if angles:
        out["bond_angles"] = pd.concat(bad_rows, ignore_index=True)
        out["bond_angle_peaks"] = pd.DataFrame(bad_peaks)
    return out


def _by_element(summary) -> tuple[list[float], dict, dict]:
    """Temperatures and per-element D (and standard errors, None if any is missing) from the summary."""
    temps = sorted(summary["temperature"].unique(), reverse=True)
    D, se = {}, {}
    for e, grp in summary.groupby("element"):
        grp = grp.set_index("temperature").reindex(temps)
        D[e] = grp["D_mean"].to_numpy()
        se[e] = grp["D_sem"].to_numpy()
    if any(not np.all(np.isfinite(v)) for v in se.values()):
        se = None
    return temps, D, se


def compare_species(tables: dict, reference: dict):
    """Potential against reference: per element and temperature D / D_ref, and partial first-peak deviations.

    Returns ``(diffusion, peaks)`` DataFrames; deviations relative (``r_peak / r_peak_ref - 1``).
    """
    keys = ["element", "temperature"]
    d = tables["diffusion_elements_summary"].merge(reference["diffusion_elements_summary"], on=keys,
                                                   suffixes=("", "_ref"))
    d["D_ratio"] = d["D_mean"] / d["D_mean_ref"]
    d["D_ratio_sem"] = ratio_sem(d["D_mean"], d["D_sem"], d["D_mean_ref"], d["D_sem_ref"])
    p = tables["partial_rdf_peaks"].merge(reference["partial_rdf_peaks"], on=["pair", "temperature"],
                                          suffixes=("", "_ref"))
    sem = []
    for q in ("r_peak", "g_peak"):
        p[f"{q}_dev"] = p[q] / p[f"{q}_ref"] - 1
        if f"{q}_sem" in p and f"{q}_sem_ref" in p:  # tables written before the peaks had standard errors: none
            p[f"{q}_dev_sem"] = ratio_sem(p[q], p[f"{q}_sem"], p[f"{q}_ref"], p[f"{q}_sem_ref"])
            sem.append(f"{q}_dev_sem")
    return (d[keys + ["D_mean", "D_mean_ref", "D_ratio", "D_ratio_sem"]],
            p[["pair", "temperature", "r_peak", "r_peak_ref", "r_peak_dev", "g_peak", "g_peak_ref", "g_peak_dev",
               *sem]])


def write_species_tables(md_dir: str | os.PathLike, out_dir: str | os.PathLike, **kwargs) -> dict:
    """:func:`species_tables` written as ``out_dir/<name>.csv`` (atomic writes); returns the tables."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = species_tables(md_dir, **kwargs)
    for name, df in tables.items():
        with atomic_write(out_dir / f"{name}.csv") as fh:
            df.to_csv(fh, index=False)
    return tables
