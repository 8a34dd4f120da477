"""Fake features: random columns with the statistics of real ones, that a good selector must drop.

Fake feature k is ``|z|`` with ``z ~ Normal(mu_j, sigma_j)`` drawn independently
for every atom, where mu_j, sigma_j are the mean and standard deviation of real
feature ``j = k mod F`` (raw values, training structures). The values are drawn
once (seeded) and then scaled like the real features (n2p2 formulas, statistics
of the training rows), so they enter the networks exactly as real functions do.
They carry no information about the energy.
"""

from __future__ import annotations

import numpy as np
import torch

from ..training.data import FeatureData, scaling_affine


def make_fakes(data: FeatureData, raw_stats: dict[str, np.ndarray], n_fakes: int, train_structures,
               mode: str, smin: float, smax: float, seed: int = 0) -> FeatureData:
    """``data`` (already scaled) with ``n_fakes`` fake columns per element appended (names ``fake_01``...)."""
    rng = np.random.default_rng(seed)
    extra, names = {}, {}
    train_structures = np.asarray(train_structures)
    for e in data.elements:
        n_rows = data.values[e].shape[1]
        st = raw_stats[e]
        F = len(st)
        mu = st[np.arange(n_fakes) % F, 2]
        sig = st[np.arange(n_fakes) % F, 3]
        sig = np.where(sig > 0, sig, np.abs(mu) * 0.1 + 1e-3)
        raw = np.abs(rng.normal(mu, sig, size=(n_rows, n_fakes)))
        if data.scale_a is not None:
            rows = data.rows_of(e, train_structures)
            fstats = np.stack([raw[rows].min(0), raw[rows].max(0), raw[rows].mean(0), raw[rows].std(0)], 1)
            a, b = scaling_affine(fstats, mode, smin, smax)
            raw = raw * a + b
        extra[e] = torch.as_tensor(raw, dtype=data.dtype)
        names[e] = [f"fake_{k + 1:02d}" for k in range(n_fakes)]
    return data.add_columns(extra, names)


def is_fake(name: str) -> bool:
    return name.startswith("fake_")
