"""The report's figures, every axis in the data's units (:mod:`toolkit.report.units`).

Each function draws from the artefacts (``info`` of
:func:`toolkit.report.artefacts.collect`, or the demo folder's CSV files) and
returns the PNG's path. :func:`draw_figures` draws all that the artefacts
allow; a figure whose artefacts are missing is left out (its reason listed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import ToolkitError
from ..plotting import pyplot as _plt
from ..plotting import save_figure
from ..selection.plots import plot_rmse_vs_n
from .artefacts import read_csv

_COLORS = {"reference": "k", "selected": "C3", "full": "C0"}
_STYLES = {"reference": "--", "selected": "-", "full": ":"}


def _save(fig, path: Path) -> Path:
    return save_figure(fig, path, dpi=120)


def _label(info: dict, name: str) -> str:
    return info["units"].reference_label if name == "reference" else name


def _source_of(info: dict, name: str) -> str:
    """The potential's label in the analysis tables."""
    if name == "reference":
        return (info.get("quench", {}).get("reference") or {}).get("label") or "lj/cut"
    return name


def plot_path(info: dict, path: Path) -> Path:
    """Validation RMSE of the refits along the lambda path, with the selection rule drawn in."""
    sel, cfg = info["selected"], info["config"].get("selection", {})
    chosen = next((r for r in info["path"] if r["n_selected"] and math.isclose(r["lambda"], sel["lambda"], rel_tol=1e-6)),
                  None)
    tol = cfg.get("tolerance")
    elements = list((sel["sets"]["full"].get("by_element") or {}).keys()) or (
        ["Ar"] if info.get("units") is None or info["units"].is_lj else list(info["units"].elements))
    return plot_rmse_vs_n(info["path"], float(sel["full_val_rmse"]), path, chosen,
                          tolerance=None if tol is None else float(tol), max_features=int(cfg.get("max_features", 0) or 0),
                          metric=sel.get("metric", "energy"), n_candidates=len(sel["sets"]["full"]["functions"]),
                          elements=elements)


def plot_arrhenius(info: dict, path: Path) -> Path:
    """ln D against 1/T for the reference, the selected and the full potential, with fits."""
    u = info["units"]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    scale = 1.0 if u.is_lj else 1000.0  # 1000/T in 1/K
    for name in ("reference", "selected", "full"):
        m = info["md"].get(name)
        if m is None:
            continue
        src = _source_of(info, name)
        d = [r for r in m["diffusion"] if r["source"] == src]
        if not d:
            continue
        x = np.array([scale / r["temperature"] for r in d])
        D = np.array([r["D_mean"] for r in d])
        sem = np.array([r["D_sem"] if isinstance(r["D_sem"], float) else np.nan for r in d])
        err = np.where(np.isfinite(sem), sem / D, 0.0)
        lab = _label(info, name)
        ax.errorbar(x, np.log(D), yerr=err, ls="none", marker="s" if name == "reference" else "o", capsize=3,
                    color=_COLORS[name], mfc="none" if name == "full" else None, label=lab)
        f = next((r for r in m["arrhenius"] if r["source"] == src), None)
        if f is not None and len(x) > 1:
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(xs, np.log(f["D0"]) - f["Ea"] / u_kb(u) * xs / scale, color=_COLORS[name], ls=_STYLES[name], lw=1,
                    label=f"{lab}: Ea = {f['Ea']:.3g} {u.energy}")
    ax.set_xlabel("1 / T  (kB / epsilon)" if u.is_lj else "1000 / T  (1/K)")
    ax.set_ylabel(f"ln D  (D in {u.diffusion})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_title(f"Arrhenius plot of the quenched {u.composition} liquid", fontsize=9)
    return _save(fig, path)


def u_kb(u) -> float:
    """Boltzmann's constant in the energy unit per temperature unit of the report's system."""
    from ..lammps.systems import get_system

    return get_system(u.system).kB


def plot_speed(info: dict, path: Path) -> Path:
    """Median timesteps/s (min-max whiskers) of the three potentials, log scale."""
    plt = _plt()
    sp = info["speed"]
    names = [k for k in ("reference", "selected", "full") if k in sp]
    med = np.array([sp[k]["median"] for k in names])
    lo = med - np.array([sp[k]["min"] for k in names])
    hi = np.array([sp[k]["max"] for k in names]) - med
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.bar([_label(info, k) for k in names], med, yerr=[lo, hi], capsize=4, color=[_COLORS[k] for k in names],
           alpha=0.8)
    for i, v in enumerate(med):
        ax.text(i, v, f" {v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    n_atoms = int(next(iter(sp.values())).get("n_atoms", 0) or 0) if sp else 0
    ax.set_ylabel(f"timesteps / s ({n_atoms or '?'} atoms, 1 core)")
    ax.set_title("LAMMPS speed", fontsize=9)
    return _save(fig, path)


def _rdf_rows(info: dict) -> list[tuple[str, dict]]:
    d = info["dir"]
    out = []
    for name in ("reference", "selected", "full"):
        if name not in info["md"]:
            continue
        f = d / "analysis" / name / "rdf.csv"
        src = _source_of(info, name)
        out += [(name, r) for r in read_csv(f) if r["source"] == src]
    return out


def plot_rdfs(info: dict, path: Path) -> Path:
    """g(r) per temperature for the three potentials (curves offset)."""
    u = info["units"]
    plt = _plt()
    rows = _rdf_rows(info)
    if not rows:
        raise ToolkitError("no RDFs (analysis/*/rdf.csv)")
    temps = sorted({r["temperature"] for _, r in rows})
    fig, ax = plt.subplots(figsize=(5.5, 1.4 + 1.2 * len(temps)))
    step = 1.5
    for k, t in enumerate(temps):
        for name in ("reference", "selected", "full"):
            d = [r for n, r in rows if n == name and r["temperature"] == t]
            if d:
                ax.plot([r["r"] for r in d], [r["g"] + k * step for r in d], color=_COLORS[name], ls=_STYLES[name],
                        lw=1.2, label=_label(info, name) if k == 0 else None)
        ax.text(0.05, k * step + 0.2, f"T = {u.temperature_text(t)}", fontsize=8)
    ax.set_xlabel(f"r  ({u.length})")
    ax.set_ylabel(f"g(r)  (offset by {step} per temperature)")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def _species_curves(info: dict, name: str) -> dict[str, list[dict]]:
    """``analysis/<potential>/species/<name>`` rows of every potential whose MD was analysed."""
    out = {}
    for pot in ("reference", "selected", "full"):
        f = info["dir"] / "analysis" / pot / "species" / name
        if pot in info["md"] and f.exists():
            out[pot] = read_csv(f)
    return out


def plot_bond_angles(info: dict, path: Path) -> Path:
    """Bond-angle distributions per temperature, selected against the reference (curves offset)."""
    plt = _plt()
    u = info["units"]
    curves = _species_curves(info, "bond_angles.csv")
    if not curves:
        raise ToolkitError("no bond-angle distributions (analysis/*/species/bond_angles.csv)")
    temps = sorted({r["temperature"] for rows in curves.values() for r in rows})
    top = max(r["p"] for rows in curves.values() for r in rows)
    fig, ax = plt.subplots(figsize=(5.5, 1.4 + 1.0 * len(temps)))
    for k, t in enumerate(temps):
        for name, rows in curves.items():
            d = [r for r in rows if r["temperature"] == t]
            ax.plot([r["theta"] for r in d], [r["p"] + k * top for r in d], color=_COLORS[name], ls=_STYLES[name],
                    lw=1.2, label=_label(info, name) if k == 0 else None)
        ax.text(2, k * top + 0.1 * top, f"T = {u.temperature_text(t)}", fontsize=8)
    ax.axvline(109.47, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel("bond angle θ (degrees; dotted: tetrahedral 109.47)")
    ax.set_ylabel("density (1/degree, offset per temperature)")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def plot_partial_rdfs(info: dict, path: Path) -> Path:
    """Partial g_ab(r) of every element pair at the lowest common temperature, potentials against the reference."""
    plt = _plt()
    u = info["units"]
    curves = _species_curves(info, "partial_rdf.csv")
    if "reference" not in curves or len(curves) < 2:
        raise ToolkitError("no partial RDFs to compare (analysis/*/species/partial_rdf.csv)")
    temps = set.intersection(*({r["temperature"] for r in rows} for rows in curves.values()))
    if not temps:
        raise ToolkitError("the partial RDFs share no temperature")
    t = min(temps)
    pairs = list(dict.fromkeys(r["pair"] for r in curves["reference"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.2 * len(pairs), 3.0), squeeze=False)
    for ax, pair in zip(axes[0], pairs):
        for name, rows in curves.items():
            d = [r for r in rows if r["pair"] == pair and r["temperature"] == t]
            ax.plot([r["r"] for r in d], [r["g"] for r in d], color=_COLORS[name], ls=_STYLES[name], lw=1.2,
                    label=_label(info, name))
        ax.set_title(f"{pair} at {u.temperature_text(t)}", fontsize=9)
        ax.set_xlabel(f"r  ({u.length})")
    axes[0][0].set_ylabel("partial g(r)")
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)


def plot_radial_vs_rdf(info: dict, path: Path) -> Path:
    """The candidate radial functions (selected ones bold) over g(r) of the reference liquid (one element)."""
    from ..potential import load_potential
    from ..selection.plots import plot_radial_rdf

    d = info["dir"]
    model = load_potential(d / "potentials" / "full")
    sfs = list(model.settings.symfuncs)
    chosen = {str(f) for f in info["selected"]["sets"]["AGL"]["functions"]}
    names = info["selected"]["sets"]["full"]["functions"]
    mask = [nm in chosen for nm in names]  # full-set names are in the model's column order
    if len(mask) != len(sfs):
        raise ToolkitError("the full potential's functions do not match select/selected.json")
    ref = [r for _, r in _rdf_rows(info) if _ == "reference"]
    if not ref:
        raise ToolkitError("no RDF of the reference (analysis/reference/rdf.csv)")
    t_low = min(r["temperature"] for r in ref)
    r = np.array([x["r"] for x in ref if x["temperature"] == t_low])
    g = np.array([x["g"] for x in ref if x["temperature"] == t_low])
    return plot_radial_rdf(sfs, mask, r, g, path, length_unit=info["units"].length)


def draw_figures(info: dict, fig_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Every figure the artefacts allow: ``({name: png}, {name: why it is missing})``."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    todo = {"path": plot_path, "arrhenius": plot_arrhenius, "rdf": plot_rdfs, "speed": plot_speed}
    if info["selected"] is None:
        todo.pop("path")
    if len(info["units"].elements) == 1:
        todo["radial_rdf"] = plot_radial_vs_rdf
    if len(info["units"].elements) > 1:
        todo["partial_rdf"] = plot_partial_rdfs
    if any((info["md"].get(n) or {}).get("species", {}).get("bond_angles") for n in info["md"]):
        todo["bond_angles"] = plot_bond_angles
    figs, missing = {}, {}
    for name, fn in todo.items():
        try:
            figs[name] = fn(info, fig_dir / f"{name}.png")
        except (ToolkitError, OSError, KeyError, ValueError, TypeError) as exc:
            missing[name] = f"{type(exc).__name__}: {exc}"
    return figs, missing
