"""Symmetry-function selection: the adaptive group lasso and the CUR and Pearson baselines.

All three are scikit-learn selectors (``fit``, ``support_``, ``get_support()``,
``transform()``) that take the same input: a prepared
:class:`~toolkit.training.Experiment`, :class:`~toolkit.training.FeatureData` or a
feature file (:mod:`toolkit.selection.base`). The penalty, the path, fake features,
statistics and plots live in the submodules (``agl``, ``path``, ``lambdas``, ``fakes``,
``stats``, ``plots``); ``hdnnp select`` is :mod:`toolkit.selection.pipeline`.
"""

from .baselines import CURSelector, PearsonSelector
from .estimator import AdaptiveGroupLasso
from .lambdas import lambda_grid, lambda_max

__all__ = ["AdaptiveGroupLasso", "CURSelector", "PearsonSelector", "lambda_grid", "lambda_max"]
