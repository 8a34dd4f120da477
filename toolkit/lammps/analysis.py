"""Analysis of quench runs: diffusion coefficients, Arrhenius fits and RDFs, potential against reference.

:func:`analyze` reads an ``hdnnp quench`` directory (and optionally the
reference potential's) and writes to ``out_dir``:

===================  ==========================================================
diffusion_runs.csv   D of every run and temperature, its fit window and alpha
diffusion.csv        per temperature: mean D, standard error across runs, n
arrhenius.csv        D0, Ea (with standard errors) per potential
rdf.csv              g(r) per potential and temperature (long format)
rdf_peaks.csv        first-peak position and height per potential and temperature
comparison.csv       potential / reference: D ratio, peak deviations (with --reference)
arrhenius.png        ln D against 1/T, with the fits
rdf.png              g(r) per temperature (curves offset), potential against reference
msd.png              MSD(t) per temperature (run mean)
analysis.json        all the above numbers, units, fit settings, provenance
===================  ==========================================================

Guard rails: a run that left the data's range is not analysed. :func:`analyze`
refuses (``ToolkitError``) a quench directory with a FAILED run (``failed.json``
from the guard of :func:`toolkit.lammps.quench.quench`), or whose g(r) has
pairs closer than the quench's distance limit (``quench.json`` ``guard``; for
directories from before the guard the system's fallback), instead of fitting a
D to it. With ``allow_failed=True`` (``--allow-failed``) the FAILED runs are
left out, named in ``analysis.json`` ``excluded_runs`` and warned about.

Units are the system's: D in Angstrom^2/ps (1e-4 cm^2/s) for Al/Si, sigma^2/tau
for LJ; Ea in eV (epsilon for LJ); T in K (epsilon/kB); r in Angstrom (sigma).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ToolkitError
from ..fileio import atomic_path, atomic_write, read_json, write_json
from ..provenance import provenance
from ..stats import ratio_sem
from .arrhenius import fit_arrhenius
from .msd import fit_diffusion, msd_multi_origin, read_msd, read_unwrapped
from .quench import step_name
from .guard import FALLBACK_MIN_DISTANCE
from .rdf import compute_rdf, first_peak, peak_sem
from .systems import get_system


def _load_quench(md_dir: Path) -> dict:
    meta = md_dir / "quench.json"
    if not meta.exists():
        raise ToolkitError(f"{md_dir}: not a quench directory (no quench.json; run 'hdnnp quench' first)")
    return read_json(meta)


def failed_runs(md_dir: str | os.PathLike) -> dict[str, str]:
    """Runs of a quench directory the guard marked FAILED: ``{"run_000": "T_1250: reason"}``."""
    out = {}
    for path in sorted(Path(md_dir).glob("run_*/*/failed.json")):
        try:
            rec = read_json(path)
        except (OSError, ValueError):
            rec = {}
        out[path.parent.parent.name] = f"{path.parent.name}: {rec.get('reason', 'FAILED')}"
    return out


def distance_limit(meta: dict) -> float | None:
    """The shortest pair distance a quench allowed (its guard's, else the system's fallback)."""
    guard = meta.get("guard") or {}
    if guard.get("min_distance") is not None:
        return float(guard["min_distance"])
    return FALLBACK_MIN_DISTANCE.get(meta["protocol"]["system"])


def _finished_steps(md_dir: Path, temperatures, exclude=()) -> dict[float, list[Path]]:
    """Finished step directories per temperature (those with done.json), without the runs in ``exclude``."""
    out: dict[float, list[Path]] = {}
    for t in temperatures:
        dirs = sorted(d for d in md_dir.glob(f"run_*/{step_name(t)}")
                      if (d / "done.json").exists() and d.parent.name not in exclude)
        if dirs:
            out[float(t)] = dirs
    return out


def _msd_of_step(step_dir: Path, timestep: float, source: str) -> tuple[np.ndarray, np.ndarray]:
    if source == "lammps":
        return read_msd(step_dir / "msd.dat", timestep)
    if source == "trajectory":
        t, pos = read_unwrapped(step_dir / "traj.lammpstrj", timestep)
        msd = msd_multi_origin(pos)
        return t[: len(msd)], msd
    raise ToolkitError(f"unknown MSD source {source!r} (lammps or trajectory)")


def diffusion_table(md_dir: str | os.PathLike, fit_start: float = 0.2, fit_end: float = 1.0, label: str | None = None,
                    msd_source: str = "lammps", exclude=()):
    """``(runs, summary)`` DataFrames of D for a quench directory (see module docstring).

    ``msd_source``: ``"lammps"`` (``msd.dat`` of ``compute msd``, single time
    origin) or ``"trajectory"`` (all time origins of ``traj.lammpstrj``, lags up
    to half the measurement: less noisy, coarser in time).
    """
    import pandas as pd

    md_dir = Path(md_dir)
    meta = _load_quench(md_dir)
    proto = meta["protocol"]
    label = label or meta["potential"]["label"]
    rows = []
    for t, dirs in _finished_steps(md_dir, proto["temperatures"], exclude).items():
        for d in dirs:
            tt, msd = _msd_of_step(d, proto["timestep"], msd_source)
            fit = fit_diffusion(tt, msd, fit_start=fit_start, fit_end=fit_end)
            done = read_json(d / "done.json")
            rows.append({"source": label, "temperature": t, "run": int(d.parent.name.split("_")[-1]), "D": fit.D,
                         "D_fit_stderr": fit.D_stderr, "fit_start": fit.t_start, "fit_end": fit.t_end,
                         "n_points": fit.n_points, "alpha": fit.alpha,
                         "mean_temperature": done.get("mean_temperature"), "msd_source": msd_source,
                         "directory": str(d)})
            if not 0.8 <= fit.alpha <= 1.2:
                warnings.warn(f"{d}: MSD log-log slope {fit.alpha:.2f} over the fit window: not diffusive "
                              "(crystallised, or too short a measurement)", stacklevel=2)
    if not rows:
        raise ToolkitError(f"{md_dir}: no finished temperature steps (no run_*/T_*/done.json)")
    runs = pd.DataFrame(rows).sort_values(["temperature", "run"], ascending=[False, True]).reset_index(drop=True)
    summary = (runs.groupby("temperature", sort=False)["D"]
               .agg(D_mean="mean", D_std=lambda x: x.std(ddof=1) if len(x) > 1 else np.nan, n_runs="count")
               .reset_index())
    summary["D_sem"] = summary["D_std"] / np.sqrt(summary["n_runs"])
    summary.insert(0, "source", label)
    summary = summary[["source", "temperature", "D_mean", "D_sem", "D_std", "n_runs"]]
    return runs, summary


def rdf_table(md_dir: str | os.PathLike, cutoff: float | None = None, bins: int = 200, label: str | None = None,
              exclude=()):
    """``(rdf, peaks)`` DataFrames: g(r) per temperature averaged over frames and runs, and first peaks.

    ``peaks`` also holds ``r_min``, the lower edge of the first bin of g(r) with pairs, ``bin_width``, and
    ``r_peak_sem`` / ``g_peak_sem``: the standard errors of the peak over runs (each run's own g(r) and peak;
    NaN for a single run), the runs being the independent samples as for D.
    """
    import pandas as pd

    md_dir = Path(md_dir)
    meta = _load_quench(md_dir)
    proto = meta["protocol"]
    system = get_system(proto["system"])
    label = label or meta["potential"]["label"]
    cutoff = cutoff or system.rdf_cutoff
    rdf_rows, peaks = [], []
    for t, dirs in _finished_steps(md_dir, proto["temperatures"], exclude).items():
        per_run = [compute_rdf([d / "traj.lammpstrj"], cutoff=cutoff, bins=bins) for d in dirs]
        r, n = per_run[0][0], sum(k for _, _, k in per_run)
        if any(len(x) != len(r) or not np.allclose(x, r) for x, _, _ in per_run):
            raise ToolkitError(f"{md_dir}: the runs at T = {t:g} have different RDF bins (different boxes)")
        g = sum(gi * k for _, gi, k in per_run) / n  # = the average over every frame of every run
        rp, gp = first_peak(r, g)
        sem = peak_sem(r, [gi for _, gi, _ in per_run])
        dr = float(r[1] - r[0]) if len(r) > 1 else 0.0
        occupied = np.flatnonzero(g > 0)
        r_min = float(r[occupied[0]] - dr / 2) if len(occupied) else float("nan")
        rdf_rows.append(pd.DataFrame({"source": label, "temperature": t, "r": r, "g": g}))
        peaks.append({"source": label, "temperature": t, "r_peak": rp, "g_peak": gp, "r_peak_sem": float(sem[0]),
                      "g_peak_sem": float(sem[1]), "r_min": r_min, "bin_width": dr, "n_frames": n,
                      "n_runs": len(dirs)})
    return pd.concat(rdf_rows, ignore_index=True), pd.DataFrame(peaks)


def _save_csv(df, path: Path) -> None:
    with atomic_write(path) as fh:
        df.to_csv(fh, index=False)


def _savefig(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=path.suffix.lstrip("."))


def analyze(md_dir: str | os.PathLike, reference_dir: str | os.PathLike | None = None,
            out_dir: str | os.PathLike | None = None, fit_start: float = 0.2, fit_end: float = 1.0,
            rdf_cutoff: float | None = None, rdf_bins: int = 200, msd_source: str = "lammps",
            allow_failed: bool = False) -> dict:
    """Analyse a quench directory (and the reference's); returns a dict of DataFrames and fits.

    Parameters
    ----------
    md_dir : output of :func:`toolkit.lammps.quench.quench`.
    reference_dir : the same protocol run with the reference potential (optional).
    out_dir : where tables and plots go (default ``md_dir/analysis``).
    fit_start, fit_end : Einstein-fit window as fractions of the measurement time.
    rdf_cutoff : largest r of g(r) (default: the system's; capped at half the box).
    rdf_bins : number of g(r) bins.
    msd_source : ``"lammps"`` (``compute msd``, the default) or ``"trajectory"``
        (multiple time origins from the trajectory; see :func:`diffusion_table`).
    allow_failed : analyse the runs that passed the guard and leave FAILED runs
        out (default: refuse a directory with a FAILED run).

    Raises :class:`ToolkitError` for a run that left the data's range (see the
    module docstring).

    Keys of the result: ``diffusion_runs``, ``diffusion``, ``arrhenius``,
    ``rdf``, ``rdf_peaks``, ``comparison`` (``None`` without a reference),
    ``units``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    md_dir = Path(md_dir)
    out_dir = Path(out_dir) if out_dir is not None else md_dir / "analysis"
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = _load_quench(md_dir)
    system = get_system(meta["protocol"]["system"])
    sources = [(md_dir, meta)]
    if reference_dir is not None:
        ref_meta = _load_quench(Path(reference_dir))
        if ref_meta["protocol"]["system"] != meta["protocol"]["system"]:
            raise ToolkitError(f"{reference_dir} is a {ref_meta['protocol']['system']} quench, {md_dir} a "
                               f"{meta['protocol']['system']} quench")
        sources.append((Path(reference_dir), ref_meta))
    labels = []
    for d, m in sources:
        lab = m["potential"]["label"]
        if lab in labels:
            lab = f"{lab} ({d.name})"
        labels.append(lab)

    excluded = {lab: _check_runs(d, m, allow_failed) for (d, m), lab in zip(sources, labels)}
    runs, summaries, fits, rdfs, peaks = [], [], [], [], []
    for (d, m), lab in zip(sources, labels):
        r, s = diffusion_table(d, fit_start, fit_end, label=lab, msd_source=msd_source, exclude=excluded[lab])
        runs.append(r)
        summaries.append(s)
        try:
            fit = fit_arrhenius(s["temperature"], s["D_mean"], kB=system.kB,
                                D_stderr=s["D_sem"] if s["n_runs"].min() > 1 else None)
            fits.append({"source": lab, **fit.as_dict()})
        except ToolkitError as exc:
            warnings.warn(f"{d}: no Arrhenius fit: {exc}", stacklevel=2)
        g, p = rdf_table(d, cutoff=rdf_cutoff, bins=rdf_bins, label=lab, exclude=excluded[lab])
        _check_rdf_range(d, m, p)
        rdfs.append(g)
        peaks.append(p)
    diffusion_runs = pd.concat(runs, ignore_index=True)
    diffusion = pd.concat(summaries, ignore_index=True)
    arrhenius = pd.DataFrame(fits)
    rdf = pd.concat(rdfs, ignore_index=True)
    rdf_peaks = pd.concat(peaks, ignore_index=True)

    comparison = None
    if reference_dir is not None:
        pot, ref = labels
        a = diffusion[diffusion.source == pot].set_index("temperature")
        b = diffusion[diffusion.source == ref].set_index("temperature")
        pa = rdf_peaks[rdf_peaks.source == pot].set_index("temperature")
        pb = rdf_peaks[rdf_peaks.source == ref].set_index("temperature")
        common = sorted(set(a.index) & set(b.index), reverse=True)
        comparison = pd.DataFrame({
            "temperature": common,
            "D": [a.loc[t, "D_mean"] for t in common],
            "D_reference": [b.loc[t, "D_mean"] for t in common],
            "D_ratio": [a.loc[t, "D_mean"] / b.loc[t, "D_mean"] for t in common],
            "r_peak": [pa.loc[t, "r_peak"] for t in common],
            "r_peak_reference": [pb.loc[t, "r_peak"] for t in common],
            "g_peak": [pa.loc[t, "g_peak"] for t in common],
            "g_peak_reference": [pb.loc[t, "g_peak"] for t in common],
        })
        for q in ("r_peak", "g_peak"):
            comparison[f"{q}_rel_dev"] = comparison[q] / comparison[f"{q}_reference"] - 1
            # from both sides' standard errors over runs (NaN if either has one run)
            comparison[f"{q}_rel_dev_sem"] = ratio_sem(
                comparison[q], [pa.loc[t, f"{q}_sem"] for t in common],
                comparison[f"{q}_reference"], [pb.loc[t, f"{q}_sem"] for t in common])
        _save_csv(comparison, out_dir / "comparison.csv")

    _save_csv(diffusion_runs, out_dir / "diffusion_runs.csv")
    _save_csv(diffusion, out_dir / "diffusion.csv")
    _save_csv(arrhenius, out_dir / "arrhenius.csv")
    _save_csv(rdf, out_dir / "rdf.csv")
    _save_csv(rdf_peaks, out_dir / "rdf_peaks.csv")
    units = {"D": f"{system.length_unit}^2/{system.time_unit}", "temperature": system.temperature_unit,
             "Ea": system.energy_unit, "r": system.length_unit, "kB": system.kB,
             "time": system.time_unit}
    _plot_arrhenius(diffusion, arrhenius, labels, system, units, out_dir / "arrhenius.png")
    _plot_rdf(rdf, labels, units, out_dir / "rdf.png")
    _plot_msd(sources, labels, out_dir / "msd.png", units)
    record = provenance({"md_dir": str(md_dir), "reference_dir": str(reference_dir) if reference_dir else None,
                         "fit_start": fit_start, "fit_end": fit_end, "rdf_cutoff": rdf_cutoff, "rdf_bins": rdf_bins,
                         "msd_source": msd_source,
                         "fit_window": f"[{fit_start:g}, {fit_end:g}] x measurement time (Einstein: MSD = 6 D t + b)"})
    record.update({"excluded_runs": excluded, "distance_limits": {lab: distance_limit(m) for (d, m), lab
                                                                  in zip(sources, labels)},
                   "units": units, "diffusion": diffusion.to_dict("records"), "arrhenius": arrhenius.to_dict("records"),
                   "rdf_peaks": rdf_peaks.to_dict("records"),
                   "comparison": comparison.to_dict("records") if comparison is not None else None})
    write_json(out_dir / "analysis.json", record)
    return {"diffusion_runs": diffusion_runs, "diffusion": diffusion, "arrhenius": arrhenius, "rdf": rdf,
            "rdf_peaks": rdf_peaks, "comparison": comparison, "units": units, "out_dir": out_dir,
            "excluded_runs": excluded}


def _check_runs(md_dir: Path, meta: dict, allow_failed: bool) -> dict[str, str]:
    """The FAILED runs of a quench directory; raises unless ``allow_failed`` (and always if none passed)."""
    failed = failed_runs(md_dir)
    if not failed:
        return {}
    listing = "; ".join(f"{run} FAILED at {why}" for run, why in failed.items())
    n_runs = len(list(md_dir.glob("run_*")))
    if not allow_failed:
        raise ToolkitError(f"{md_dir}: refusing to analyse runs that left the data's range: {listing} "
                           "(fix the potential; --allow-failed analyses only the runs that passed)")
    if len(failed) >= n_runs:
        raise ToolkitError(f"{md_dir}: every run FAILED, nothing to analyse: {listing}")
    warnings.warn(f"{md_dir}: leaving out {len(failed)} FAILED run(s): {listing}", stacklevel=3)
    return failed


def _check_rdf_range(md_dir: Path, meta: dict, peaks) -> None:
    """Refuse g(r) with pairs closer than the quench's distance limit (a structure that left the data's range)."""
    limit = distance_limit(meta)
    if limit is None or not len(peaks):
        return
    bad = peaks[peaks["r_min"] + peaks["bin_width"] <= limit]
    if len(bad):
        row = bad.iloc[0]
        raise ToolkitError(
            f"{md_dir}: refusing to analyse T = {row.temperature:g}: its g(r) has pairs at r < "
            f"{row.r_min + row.bin_width:.3g} "
            f"(first-peak fit would say r = {row.r_peak:.3g}), closer than the limit {limit:.3g} of the data's range; "
            "the structure collapsed (rerun the quench: its guard rails stop and mark such runs FAILED)")


_STYLES = [dict(color="C0", marker="o", ls="-"), dict(color="k", marker="s", ls="--"), dict(color="C3", marker="^", ls=":")]


def _plot_arrhenius(diffusion, arrhenius, labels, system, units, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for lab, st in zip(labels, _STYLES):
        d = diffusion[diffusion.source == lab]
        x = 1.0 / d["temperature"].to_numpy()
        y = np.log(d["D_mean"].to_numpy())
        yerr = (d["D_sem"] / d["D_mean"]).to_numpy()
        ax.errorbar(x, y, yerr=np.where(np.isfinite(yerr), yerr, 0), color=st["color"], marker=st["marker"],
                    ls="none", capsize=3, label=lab)
        f = arrhenius[arrhenius.source == lab] if len(arrhenius) else arrhenius
        if len(f):
            f = f.iloc[0]
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(xs, np.log(f.D0) - f.Ea * xs / system.kB, color=st["color"], ls=st["ls"],
                    label=f"fit: Ea = {f.Ea:.4g} {units['Ea']}")
    inverse = "kB/epsilon" if units["temperature"] == "epsilon/kB" else f"1/{units['temperature']}"
    ax.set_xlabel(f"1 / T  ({inverse})")
    ax.set_ylabel(f"ln D  (D in {units['D']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)


def _plot_rdf(rdf, labels, units, path: Path) -> None:
    import matplotlib.pyplot as plt

    temps = sorted(rdf["temperature"].unique())
    fig, ax = plt.subplots(figsize=(5, 1.2 + 1.1 * len(temps)))
    step = 1.5
    for k, t in enumerate(temps):
        for lab, st in zip(labels, _STYLES):
            d = rdf[(rdf.source == lab) & (rdf.temperature == t)]
            ax.plot(d["r"], d["g"] + k * step, color=st["color"], ls=st["ls"], lw=1.2,
                    label=lab if k == 0 else None)
        ax.text(rdf["r"].min() + 0.03 * (rdf["r"].max() - rdf["r"].min()), k * step + 0.15, f"T = {t:g}",
                ha="left", va="bottom", fontsize=8)
    ax.set_xlabel(f"r  ({units['r']})")
    ax.set_ylabel("g(r)  (offset by %.1f per temperature)" % step)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)


def _plot_msd(sources, labels, path: Path, units) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for (d, m), lab, st in zip(sources, labels, _STYLES):
        proto = m["protocol"]
        for k, (t, dirs) in enumerate(_finished_steps(d, proto["temperatures"]).items()):
            curves = [read_msd(x / "msd.dat", proto["timestep"]) for x in dirs]
            n = min(len(c[0]) for c in curves)
            tt = curves[0][0][:n]
            mean = np.mean([c[1][:n] for c in curves], axis=0)
            ax.plot(tt, mean, color=f"C{k}", ls=st["ls"], lw=1.2, label=f"{lab}, T = {t:g}")
    ax.set_xlabel(f"t  ({units['time']})")
    ax.set_ylabel(f"MSD  ({units['r']}^2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)
