"""Baseline feature selectors with the scikit-learn selector interface: CUR and a Pearson-correlation filter.

Both take a plain matrix ``X`` (n_samples, n_features) (e.g. scaled symmetry
functions of a sample of atoms, or structure averages) and expose
``support_``, ``get_support()``, ``transform(X)`` like
:class:`sklearn.feature_selection.SelectorMixin` estimators.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin


class CURSelector(SelectorMixin, BaseEstimator):
    """CUR feature selection (greedy, leverage scores of the top singular vectors).

    A thin wrapper of :class:`skmatter.feature_selection.CUR` (Imbalzano et al.,
    J. Chem. Phys. 148, 241730, 2018). ``X`` should be scaled so that every
    column has a comparable range (e.g. n2p2-scaled values).
    """

    def __init__(self, n_to_select: int = 8, recompute_every: int = 1, k: int = 1):
        self.n_to_select = n_to_select
        self.recompute_every = recompute_every
        self.k = k

    def fit(self, X, y=None):
        from skmatter.feature_selection import CUR

        X = np.asarray(X, dtype=float)
        n = min(int(self.n_to_select), X.shape[1])
        cur = CUR(n_to_select=n, recompute_every=self.recompute_every, k=self.k)
        cur.fit(X)
        self.selected_idx_ = np.asarray(cur.selected_idx_, dtype=int)
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[self.selected_idx_] = True
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self):
        return self.support_


class PearsonSelector(SelectorMixin, BaseEstimator):
    """Pearson-correlation filter.

    Features are ranked by the absolute Pearson correlation of each column of
    ``X`` with the target ``y`` (the most informative first; without ``y``,
    by variance). Walking down that ranking, a feature is kept unless its
    absolute correlation with an already kept feature exceeds ``threshold``.
    If fewer than ``n_to_select`` features pass, the remaining places go to
    the skipped features with the smallest maximum correlation to the kept
    ones (greedily, one at a time), so exactly ``n_to_select`` are returned.

    ``selected_idx_`` lists the kept features in the order they were chosen.
    """

    def __init__(self, n_to_select: int = 8, threshold: float = 0.9):
        self.n_to_select = n_to_select
        self.threshold = threshold

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        F = X.shape[1]
        n = min(int(self.n_to_select), F)
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
        skipped: list[int] = []
        for i in order:
            if len(kept) >= n:
                break
            if all(corr[i, j] <= self.threshold for j in kept):
                kept.append(int(i))
            else:
                skipped.append(int(i))
        while len(kept) < n:
            rest = [i for i in order if i not in kept]
            maxc = [max(corr[i, j] for j in kept) if kept else 0.0 for i in rest]
            kept.append(int(rest[int(np.argmin(maxc))]))
        self.target_corr_ = score
        self.selected_idx_ = np.asarray(kept, dtype=int)
        self.support_ = np.zeros(F, dtype=bool)
        self.support_[self.selected_idx_] = True
        self.n_features_in_ = F
        return self

    def _get_support_mask(self):
        return self.support_
