"""Figures of a selection run (matplotlib, Agg backend; every file written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..plotting import plain_log_labels, plot_learning_curve  # noqa: F401 - re-exported
from ..plotting import pyplot as _plt, save_figure as _save


def short_label(sf, fallback: str) -> str:
    """Compact tick label of a function: ``R eta=.. rs=..`` or ``A zeta=.. lambda=..``.

    With other neighbour elements than the central one (element-resolved sets)
    the neighbours lead: ``Zr G2 ...``, ``Cu-Zr G9 ...``.
    """
    if sf is None:
        return fallback
    nb = "-".join(sf.neighbors) + " " if any(n != sf.element for n in sf.neighbors) else ""
    if sf.is_radial:
        return f"{nb}G{sf.type} η={sf.eta:.3g} rs={sf.rs:.3g}"
    return f"{nb}G{sf.type} ζ={sf.zeta:g} λ={sf.lambda_:+g}"


def plot_rmse_vs_n(records: list[dict], full_rmse: float, path: Path, chosen: dict | None = None,
                   tolerance: float | None = None, max_features: int | None = None, metric: str = "energy",
                   n_candidates: int | None = None, elements=("Ar",)) -> Path:
    """Validation RMSE (``metric``) along the lambda path against the set size, with the choice rule drawn in.

    ``records``: path rows (``n_selected``, ``lambda`` and the penalised/refit RMSE keys of
    :func:`toolkit.selection.path.metric_key`); ``full_rmse``: all candidates (``n_candidates`` of them);
    ``elements``: the data's, for the units of the axis (:func:`toolkit.selection.path.data_units`).
    """
    from .path import metric_key, metric_label, reference_rmse

    plt = _plt()
    kp, kr = metric_key(metric, "penalized"), metric_key(metric, "refit")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    rec = [r for r in records if (r.get("n_selected") or 0) > 0]
    n = [r["n_selected"] for r in rec]
    ax.plot(n, [r[kp] for r in rec], "o", mfc="none", color="C0", label="AGL (penalised)")
    ax.plot(n, [r[kr] for r in rec], "s", color="C0", label="AGL + refit")
    for r in rec:
        ax.annotate(f"λ={r['lambda']:.3g}", (r["n_selected"], r[kr]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    label = "all candidates" if n_candidates is None else f"all {n_candidates} candidates"
    ax.axhline(full_rmse, color="k", lw=1, label=f"{label} ({full_rmse:.3g})")
    if tolerance is not None:
        ref = reference_rmse(rec, full_rmse, metric)
        ax.axhline(tolerance * ref, color="C2", ls="--", lw=1, label=f"{tolerance:g} x best ({ref:.3g})")
    if max_features:
        ax.axvline(max_features + 0.5, color="C1", ls=":", lw=1, label=f"at most {max_features} functions")
    if chosen is not None:
        ax.plot([chosen["n_selected"]], [chosen[kr]], "r*", ms=15, label="chosen")
    ax.set_yscale("log")
    plain_log_labels(ax)
    ax.set_xlabel("number of selected functions")
    ax.set_ylabel(f"validation {metric_label(metric, elements)}")
    if tolerance is not None and max_features:
        ax.set_title(f"rule: smallest set with <= {max_features} functions and refit RMSE <= {tolerance:g} x best",
                     fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_selection_matrix(methods: dict[str, Sequence[bool]], labels: Sequence[str], path: Path,
                          groups: Sequence[tuple[str, int]] | None = None) -> Path:
    """Rows: methods; columns: candidate functions; filled: selected.

    ``groups``: ``[(name, columns)]`` splitting the columns by element (and fakes):
    separated by lines, named above, with each row's count per group.
    """
    plt = _plt()
    names = list(methods)
    M = np.array([np.asarray(methods[m], dtype=float) for m in names])
    fig, ax = plt.subplots(figsize=(max(6, 0.32 * len(labels) + 2), 0.45 * len(names) + 2.6))
    ax.imshow(M, cmap="Greys", vmin=0, vmax=1.3, aspect="auto")
    ax.set_yticks(range(len(names)), names)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_xticks(np.arange(-0.5, len(labels)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
    ax.grid(which="minor", color="0.8", lw=0.5)
    ax.tick_params(which="minor", length=0)
    for i in range(len(names)):
        ax.text(len(labels) - 0.4, i, f" {int(M[i].sum())}", va="center", fontsize=8, clip_on=False)
    if groups and len(groups) > 1:
        start = 0
        for name, n in groups:
            if start:
                ax.axvline(start - 0.5, color="C3", lw=1.5)
            counts = ", ".join(str(int(M[i, start:start + n].sum())) for i in range(len(names)))
            ax.text(start + n / 2 - 0.5, -0.7, f"{name} ({counts})", ha="center", va="bottom", fontsize=8, color="C3")
            start += n
    ax.set_title("selected functions per method" + (" and element" if groups and len(groups) > 1 else ""),
                 pad=18 if groups and len(groups) > 1 else 6)
    return _save(fig, path)


def plot_boxplot(results: dict[str, Sequence[float]], path: Path, ylabel: str = "test RMSE (energy / atom)") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.3 * len(results) + 2, 4))
    names = list(results)
    ax.boxplot([results[k] for k in names], showmeans=True)
    for i, k in enumerate(names, start=1):
        ax.plot(np.full(len(results[k]), i) + np.linspace(-0.08, 0.08, len(results[k])), results[k], ".",
                color="C0", alpha=0.6)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20)
    ax.set_ylabel(ylabel)
    return _save(fig, path)


def plot_radial_rdf(symfuncs, selected: Sequence[bool], r: np.ndarray, g: np.ndarray | None, path: Path,
                    length_unit: str = "length units") -> Path:
    """Radial functions of one element, selected ones bold, over the RDF g(r) of the data (r in ``length_unit``)."""
    from ..symfuncs.compute import radial_terms

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    if g is not None:
        ax2 = ax.twinx()
        ax2.fill_between(r, g, color="0.85", zorder=0)
        ax2.plot(r, g, color="0.5", lw=1)
        ax2.set_ylabel("g(r)", color="0.4")
        ax2.set_ylim(bottom=0)
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    radial = [(sf, sel) for sf, sel in zip(symfuncs, selected) if sf is not None and sf.is_radial]
    rr = np.linspace(1e-3, max(sf.rc for sf, _ in radial), 400)
    k = 0
    for (sf, sel), y in zip(radial, radial_terms([sf for sf, _ in radial], rr)):
        if sel:
            ax.plot(rr, y, lw=2.2, color=f"C{k % 10}", label=short_label(sf, ""))
            k += 1
        else:
            ax.plot(rr, y, lw=0.7, color="0.6", ls=":")
    ax.set_xlabel(f"r ({length_unit})")
    ax.set_ylabel("radial term exp(-η (r - rs)²) fc(r)")
    ax.set_ylim(0, 1.05)
    if k:  # a set of angular functions only has no bold curve to name
        ax.legend(fontsize=7, loc="upper right")
    ax.set_title("selected radial functions (bold) and the RDF")
    return _save(fig, path)
