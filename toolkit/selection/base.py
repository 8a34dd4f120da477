"""What the three selectors share: their input (matrices, feature data, prepared experiments) and output.

Every selector (:class:`~toolkit.selection.AdaptiveGroupLasso`,
:class:`~toolkit.selection.CURSelector`, :class:`~toolkit.selection.PearsonSelector`)
is a scikit-learn ``SelectorMixin`` estimator whose ``fit(X, y=None)`` takes

* a :class:`~toolkit.training.Experiment` (scaled features, splits): used as it is;
* a :class:`~toolkit.training.FeatureData` (raw symmetry functions, energies, and
  forces with derivatives when loaded with them) or the path of a feature file:
  split and scaled with the estimator's ``model`` (:class:`~toolkit.training.ModelSpec`),
  ``split`` and ``split_seed`` (the data are copied, never modified); ``y``, if
  given, replaces the per-structure reference energies (energy units);
* (CUR and Pearson only) a plain matrix ``(n_samples, n_features)``.

Learned: ``support_`` (bool over all columns, elements in order),
``support_by_element_`` ({element: bool per column}), ``n_features_in_``.
``transform`` returns the selected columns of whatever ``fit`` accepts
(an experiment, feature data, or a matrix); ``get_feature_names_out`` the
labels of the selected functions (``El:label`` with several elements).
"""

from __future__ import annotations

import copy
import os
from typing import Sequence

import numpy as np
import torch
from sklearn.feature_selection import SelectorMixin

from ..training.data import FeatureData, held_memory
from ..training.experiment import Experiment, ModelSpec, prepare
from ..training.memory import DEFAULT_MEMORY

#: the default train/validation/test fractions when a selector splits feature data itself
DEFAULT_SPLIT = (0.8, 0.1, 0.1)


def as_experiment(X, y=None, model: ModelSpec | None = None, split: Sequence[float] = DEFAULT_SPLIT,
                  split_seed: int = 0, forces: bool = False, dtype=torch.float32,
                  memory: float = DEFAULT_MEMORY) -> Experiment:
    """The prepared experiment of a selector's input (module docstring); raises TypeError for anything else.
    ``memory`` (bytes, ``training.memory``): the derivatives are loaded only if they fit in half of it."""
    if isinstance(X, Experiment):
        if y is not None:
            raise ValueError("y: an Experiment carries its own energies; give y only with feature data")
        return X
    spec = copy.deepcopy(model) if model is not None else ModelSpec()
    if isinstance(X, (str, os.PathLike)):
        value_memory, derivative_memory = held_memory(X, dtype, memory)
        data = FeatureData.from_file(X, dtype=dtype, derivatives=forces, derivative_memory=derivative_memory,
                                     value_memory=value_memory)
    elif isinstance(X, FeatureData):
        if X.scale_a is not None:
            raise ValueError("the feature data are already scaled: pass the Experiment they belong to")
        data = X.subset_columns({e: range(X.n_features[e]) for e in X.elements})  # a copy: scaling is in place
    else:
        raise TypeError(f"expected an Experiment, FeatureData or a feature-file path, got {type(X).__name__}")
    if y is not None:
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != data.n_structures:
            raise ValueError(f"y has {len(y)} energies for {data.n_structures} structures")
        data.energy = y
    return prepare(data, spec, split=tuple(split), split_seed=split_seed, memory=memory)


def is_structure_data(X) -> bool:
    return isinstance(X, (Experiment, FeatureData, str, os.PathLike))


def selected_columns(support_by_element: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """{element: sorted selected column indices}."""
    return {e: np.flatnonzero(m).tolist() for e, m in support_by_element.items()}


class StructureSelectorMixin(SelectorMixin):
    """Support bookkeeping and ``transform`` for selectors fitted on structures' feature data."""

    def _set_support(self, exp: Experiment, keep: dict[str, Sequence[int]]) -> None:
        d = exp.data
        self.support_by_element_ = {e: np.isin(np.arange(d.n_features[e]), list(keep[e])) for e in exp.elements}
        self.support_ = np.concatenate([self.support_by_element_[e] for e in exp.elements])
        self.n_features_in_ = int(self.support_.size)
        multi = len(exp.elements) > 1
        self.feature_labels_ = np.array([f"{e}:{n}" if multi else n for e in exp.elements for n in d.names[e]],
                                        dtype=object)

    def _get_support_mask(self):
        return self.support_

    def get_feature_names_out(self, input_features=None):
        """Labels of the selected columns (symmetry-function labels when fitted on feature data)."""
        if input_features is None and hasattr(self, "feature_labels_"):
            return self.feature_labels_[self.support_]
        return super().get_feature_names_out(input_features)

    def transform(self, X):
        """The selected columns of X: an Experiment, FeatureData or an (n, n_features_in_) matrix."""
        if isinstance(X, Experiment):
            keep = selected_columns(self._by_element(X.data))
            new = copy.copy(X)
            new.data = X.data.subset_columns(keep)
            new.raw_stats = {e: X.raw_stats[e][keep[e]] for e in X.elements}
            return new
        if isinstance(X, FeatureData):
            return X.subset_columns(selected_columns(self._by_element(X)))
        return super().transform(X)

    def _by_element(self, data: FeatureData) -> dict[str, np.ndarray]:
        by = getattr(self, "support_by_element_", None)
        if by is None or {e: len(by[e]) for e in by} != dict(data.n_features):
            raise ValueError(f"the data's columns {dict(data.n_features)} differ from the fitted ones")
        return by
