"""Baseline feature selectors with the scikit-learn selector interface: CUR and a Pearson-correlation filter.

Both take what :class:`~toolkit.selection.AdaptiveGroupLasso` takes (a prepared
:class:`~toolkit.training.Experiment`, :class:`~toolkit.training.FeatureData` or a
feature file; :mod:`toolkit.selection.base`), selecting ``n_to_select`` functions per
element from the training structures, or a plain matrix ``X`` (n_samples, n_features),
and expose ``support_``, ``get_support()``, ``transform(X)`` like
:class:`sklearn.feature_selection.SelectorMixin` estimators.

On feature data: CUR sees the scaled functions of up to ``n_atoms`` random training
atoms of each element; the Pearson filter the structure averages of the scaled
functions against the energy per atom of the training structures.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .base import DEFAULT_SPLIT, StructureSelectorMixin, as_experiment, is_structure_data


def _n_for(n_to_select, e: str) -> int:
    return int(n_to_select[e]) if isinstance(n_to_select, dict) else int(n_to_select)


def _cur_columns(X: np.ndarray, n: int, recompute_every: int, k: int) -> np.ndarray:
    from skmatter.feature_selection import CUR

    cur = CUR(n_to_select=min(n, X.shape[1]), recompute_every=recompute_every, k=k)
    cur.fit(X)
    return np.asarray(cur.selected_idx_, dtype=int)


def _pearson_columns(X: np.ndarray, y, n: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept columns in the order chosen, |corr| with y of each column) of the filter (class docstring)."""
    F = X.shape[1]
    n = min(int(n), F)
    sd = X.std(0)
    Xc = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    corr = np.abs(Xc.T @ Xc) / len(X)
    corr[sd == 0, :] = 1.0
    corr[:, sd == 0] = 1.0
    if y is not None:
        y = np.asarray(y, dtype=float).ravel()
        yc = (y - y.mean()) / (y.std() or 1.0)
        score = np.abs(Xc.T @ yc) / len(X)
    else:
        score = sd
    score = np.where(sd > 0, score, -1.0)
    order = np.argsort(-score, kind="stable")
    kept: list[int] = []
    for i in order:
        if len(kept) >= n:
            break
        if all(corr[i, j] <= threshold for j in kept):
            kept.append(int(i))
    while len(kept) < n:
        rest = [i for i in order if i not in kept]
        maxc = [max(corr[i, j] for j in kept) if kept else 0.0 for i in rest]
        kept.append(int(rest[int(np.argmin(maxc))]))
    return np.asarray(kept, dtype=int), score


def _scaled_rows(exp, e: str, rows: np.ndarray) -> np.ndarray:
    """(n_rows, F) float64 scaled functions of element ``e`` (appended fake columns included)."""
    return exp.data.columns(e, rows).T.double().cpu().numpy()


def _structure_means(exp, e: str, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Training structures containing ``e``: mean scaled functions of their e atoms, energy per atom
    (read ``chunk`` structures at a time: never the whole value matrix in float64)."""
    train = np.asarray(exp.train)
    counts = exp.data.counts[e][train]
    ok = counts > 0
    Xs = np.zeros((len(train), exp.data.n_features[e]))
    for a in range(0, len(train), chunk):
        seg = np.repeat(np.arange(a, min(a + chunk, len(train))), counts[a:a + chunk])
        np.add.at(Xs, seg, _scaled_rows(exp, e, exp.data.rows_of(e, train[a:a + chunk])))
    return Xs[ok] / counts[ok, None], exp.data.energy[train][ok] / exp.data.n_atoms[train][ok]


class CURSelector(StructureSelectorMixin, BaseEstimator):
    """CUR feature selection (greedy, leverage scores of the top singular vectors).

    A thin wrapper of :class:`skmatter.feature_selection.CUR` (Imbalzano et al.,
    J. Chem. Phys. 148, 241730, 2018). ``X`` should be scaled so that every
    column has a comparable range (e.g. n2p2-scaled values; feature data are
    scaled by ``model``). ``n_to_select``: a number, or {element: number}.
    ``n_atoms``: training atoms sampled per element (seeded by ``random_state``).
    """

    def __init__(self, n_to_select: int | dict = 8, recompute_every: int = 1, k: int = 1, n_atoms: int = 20000,
                 random_state: int = 0, model=None, split=DEFAULT_SPLIT, split_seed: int = 0):
        self.n_to_select = n_to_select
        self.recompute_every = recompute_every
        self.k = k
        self.n_atoms = n_atoms
        self.random_state = random_state
        self.model = model
        self.split = split
        self.split_seed = split_seed

    def fit(self, X, y=None):
        if not is_structure_data(X):
            X = np.asarray(X, dtype=float)
            self.selected_idx_ = _cur_columns(X, _n_for(self.n_to_select, ""), self.recompute_every, self.k)
            self.support_ = np.zeros(X.shape[1], dtype=bool)
            self.support_[self.selected_idx_] = True
            self.n_features_in_ = X.shape[1]
            return self
        exp = as_experiment(X, y, self.model, self.split, self.split_seed)
        rng = np.random.default_rng(self.random_state)
        train, keep = np.asarray(exp.train), {}
        for e in exp.elements:
            rows = exp.data.rows_of(e, train)
            if len(rows) > self.n_atoms:
                rows = np.sort(rng.choice(rows, self.n_atoms, replace=False))
            keep[e] = _cur_columns(_scaled_rows(exp, e, rows), _n_for(self.n_to_select, e), self.recompute_every,
                                   self.k)
        self._set_support(exp, keep)
        offset = np.cumsum([0] + [exp.data.n_features[e] for e in exp.elements])
        self.selected_idx_ = np.concatenate([keep[e] + offset[i] for i, e in enumerate(exp.elements)])
        return self


class PearsonSelector(StructureSelectorMixin, BaseEstimator):
    """Pearson-correlation filter.

    Features are ranked by the absolute Pearson correlation of each column of
    ``X`` with the target ``y`` (the most informative first; without ``y``,
    by variance). Walking down that ranking, a feature is kept unless its
    absolute correlation with an already kept feature exceeds ``threshold``.
    If fewer than ``n_to_select`` features pass, the remaining places go to
    the skipped features with the smallest maximum correlation to the kept
    ones (greedily, one at a time), so exactly ``n_to_select`` are returned.
    On feature data, per element: structure-averaged functions against the
    energy per atom (training structures).

    ``selected_idx_`` lists the kept features in the order they were chosen.
    """

    def __init__(self, n_to_select: int | dict = 8, threshold: float = 0.9, model=None, split=DEFAULT_SPLIT,
                 split_seed: int = 0):
        self.n_to_select = n_to_select
        self.threshold = threshold
        self.model = model
        self.split = split
        self.split_seed = split_seed

    def fit(self, X, y=None):
        if not is_structure_data(X):
            X = np.asarray(X, dtype=float)
            self.selected_idx_, self.target_corr_ = _pearson_columns(X, y, _n_for(self.n_to_select, ""),
                                                                     self.threshold)
            self.support_ = np.zeros(X.shape[1], dtype=bool)
            self.support_[self.selected_idx_] = True
            self.n_features_in_ = X.shape[1]
            return self
        exp = as_experiment(X, y, self.model, self.split, self.split_seed)
        keep, corr = {}, {}
        for e in exp.elements:
            Xs, e_atom = _structure_means(exp, e)
            keep[e], corr[e] = _pearson_columns(Xs, e_atom, _n_for(self.n_to_select, e), self.threshold)
        self._set_support(exp, keep)
        offset = np.cumsum([0] + [exp.data.n_features[e] for e in exp.elements])
        self.selected_idx_ = np.concatenate([keep[e] + offset[i] for i, e in enumerate(exp.elements)])
        self.target_corr_ = np.concatenate([corr[e] for e in exp.elements])
        return self
