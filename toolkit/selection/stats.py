"""Statistics for comparing feature sets, and a cheap radial distribution function."""

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
    """g(r) averaged over (a random sample of) periodic structures, from minimum-image pair distances.

    Uses the toolkit's neighbour lists (every image within ``r_max``). Returns (r, g).
    """
    import torch

    from ..symfuncs.neighbors import build_pairs

    structures = list(structures)
    rng = np.random.default_rng(seed)
    if len(structures) > max_structures:
        structures = [structures[i] for i in sorted(rng.choice(len(structures), max_structures, replace=False))]
    edges = np.linspace(0.0, r_max, n_bins + 1)
    hist = np.zeros(n_bins)
    norm = 0.0
    for s in structures:
        if s.cell is None:
            continue
        pairs = build_pairs(s.positions, s.cell, r_max, dtype=torch.float64)
        d = pairs.dist.numpy()
        hist += np.histogram(d, bins=edges)[0]
        n = len(s)
        rho = n / abs(np.linalg.det(s.cell))
        norm += n * rho
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (norm * shell) if norm > 0 else hist
    return 0.5 * (edges[1:] + edges[:-1]), g
