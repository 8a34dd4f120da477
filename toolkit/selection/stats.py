"""Statistics for comparing feature sets, and g(r) of a sample of training structures."""

from __future__ import annotations

import itertools

import numpy as np


def summarize(values) -> dict:
    """Mean, sample standard deviation, min, max, median and count of repeated test RMSEs."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "median": float(np.median(v)), "n": int(len(v))}


def pairwise_ttests(results: dict[str, list[float]], equal_var: bool = False) -> list[dict]:
    """Two-sample t-tests (``scipy.stats.ttest_ind``; Welch's by default) between every pair of sets."""
    from scipy.stats import ttest_ind

    out = []
    for a, b in itertools.combinations(results, 2):
        va, vb = np.asarray(results[a], float), np.asarray(results[b], float)
        if len(va) < 2 or len(vb) < 2:
            t, p = float("nan"), float("nan")
        else:
            r = ttest_ind(va, vb, equal_var=equal_var)
            t, p = float(r.statistic), float(r.pvalue)
        out.append({"a": a, "b": b, "mean_a": float(va.mean()), "mean_b": float(vb.mean()), "t": t, "p_value": p})
    return out


def rdf(structures, r_max: float, n_bins: int = 200, max_structures: int = 50, seed: int = 0):
    """g(r) averaged over (a seeded random sample of) the periodic structures: (r, g), or (None, None) if none is periodic.

    :func:`toolkit.lammps.rdf.compute_rdf` (OVITO); ``r_max`` is reduced to just under half the
    shortest box height if larger.
    """
    from ..lammps.rdf import compute_rdf

    structures = [s for s in structures if s.cell is not None]
    rng = np.random.default_rng(seed)
    if len(structures) > max_structures:
        structures = [structures[i] for i in sorted(rng.choice(len(structures), max_structures, replace=False))]
    if not structures:
        return None, None
    r, g, _ = compute_rdf(structures, r_max, bins=n_bins)
    return r, g
