"""The adaptive-group-lasso selector as a scikit-learn estimator.

``AdaptiveGroupLasso(...).fit(X)`` trains the unpenalised model on all candidate
functions, runs the lambda path (group lasso, adaptive group lasso, refit per
lambda; :mod:`toolkit.selection.path`) and chooses a set
(:func:`~toolkit.selection.path.choose_step`). ``X`` is anything
:func:`toolkit.selection.base.as_experiment` accepts: a prepared
:class:`~toolkit.training.Experiment`, :class:`~toolkit.training.FeatureData`
(energies, and forces when loaded with derivatives) or a feature file.

Nothing is written unless ``checkpoint_dir`` is given; then the full model and
every finished lambda are kept there and a second ``fit`` resumes (the layout of
``hdnnp select``'s ``RUN/full`` and ``RUN/path``). Progress goes to ``callback``
(one line per stage) or, without one, to the ``toolkit.selection`` logger.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import ToolkitError
from ..settings import SelectionSettings, TrainSettings
from .base import DEFAULT_SPLIT, StructureSelectorMixin, as_experiment
from .lambdas import lambda_grid, lambda_max
from .path import choose_step, errors, full_model, group_costs, reference_rmse, run_path

logger = logging.getLogger("toolkit.selection")

_D = SelectionSettings  # the config's defaults (``selection:`` section) are the estimator's defaults


class AdaptiveGroupLasso(StructureSelectorMixin, BaseEstimator):
    """Adaptive-group-lasso selection of symmetry functions (Sandberg et al., MLST 5, 025043, 2024).

    Hyperparameters (stored as given; see docs/selection.md):

    * ``lambdas``: the path's penalty strengths (ascending); None: ``n_lambdas`` values
      log-spaced over ``[lambda_max * lambda_ratio, lambda_max]`` with ``lambda_max``
      from the data (:mod:`toolkit.selection.lambdas`);
    * ``gamma``, ``prox``, ``angular_cost``, ``gl_epochs``, ``agl_epochs``, ``refit_epochs``,
      ``refit_optimizer``, ``stop_ratio``, ``refine`` (more lambdas where the choice could improve): the path (the ``selection:`` keys of
      :class:`~toolkit.settings.SelectionSettings`);
    * ``max_features``, ``max_per_element`` (alloys: at most this many per element), ``tolerance``, ``metric`` (``auto``: forces when ``training`` trains on
      forces, else energy): the choice of the set;
    * ``training`` (:class:`~toolkit.training.TrainSettings`, default: its defaults without
      progress bars), ``model``, ``split``, ``split_seed``: how feature data are trained
      and split (an Experiment brings its own model and split);
    * ``checkpoint_dir``, ``save_models`` (also write each refit as ``path/step_NNN/model.pt``),
      ``provenance`` (stored in those models), ``callback`` (called with progress lines);
    * ``function_cost``: ``{element: MD cost per column}`` weighting each group's penalty
      (:func:`toolkit.symfuncs.cost.md_costs`; replaces the ``angular_cost`` rule).

    Learned: ``support_``, ``support_by_element_``, ``n_features_in_`` (base class);
    ``lambdas_`` (the grid) and ``lambda_max_`` (None when ``lambdas`` were given); ``path_`` (one record
    per lambda of the grid and of the refinement, by lambda: ``lambda``, ``n_selected``, ``selected``, ``selected_idx``, ``group_norms``
    (the AGL group norms per element), validation and test RMSEs of the refit);
    ``chosen_`` (the chosen record), ``lambda_``, ``metric_``, ``full_val_rmse_``,
    ``reference_val_rmse_``; ``coef_`` (the chosen AGL group norms over all columns, zero
    for dropped functions); ``full_networks_``; ``networks_`` (the chosen refit's networks on
    the selected columns) and ``model_`` (the same as an :class:`~toolkit.model.HDNNP`, None
    when the columns are not all real symmetry functions).
    """

    def __init__(self, lambdas=None, n_lambdas: int = 10, lambda_ratio: float = 1e-3, gamma: float = _D.gamma,
                 prox: str = _D.prox, angular_cost: float = _D.angular_cost, gl_epochs: int | None = None,
                 agl_epochs: int | None = None, refit_epochs: int | None = None, refit_optimizer: str | None = None,
                 max_features: int = _D.max_features, max_per_element: int | None = _D.max_per_element,
                 tolerance: float = _D.tolerance,
                 stop_ratio: float | None = _D.stop_ratio, refine: int = _D.refine, metric: str = _D.metric,
                 training: TrainSettings | None = None, model=None, split=DEFAULT_SPLIT, split_seed: int = 0,
                 checkpoint_dir: str | Path | None = None, save_models: bool = False, provenance: dict | None = None,
                 callback: Callable[[str], None] | None = None, function_cost: dict | None = None):
        self.lambdas = lambdas
        self.n_lambdas = n_lambdas
        self.lambda_ratio = lambda_ratio
        self.gamma = gamma
        self.prox = prox
        self.angular_cost = angular_cost
        self.gl_epochs = gl_epochs
        self.agl_epochs = agl_epochs
        self.refit_epochs = refit_epochs
        self.refit_optimizer = refit_optimizer
        self.max_features = max_features
        self.max_per_element = max_per_element
        self.tolerance = tolerance
        self.stop_ratio = stop_ratio
        self.refine = refine
        self.metric = metric
        self.training = training
        self.model = model
        self.split = split
        self.split_seed = split_seed
        self.checkpoint_dir = checkpoint_dir
        self.save_models = save_models
        self.provenance = provenance
        self.callback = callback
        self.function_cost = function_cost

    @classmethod
    def from_settings(cls, selection, training: TrainSettings, **kw) -> "AdaptiveGroupLasso":
        """An estimator with the hyperparameters of a ``selection`` settings object (or config section)."""
        names = cls._get_param_names()
        get = (lambda k: selection[k]) if isinstance(selection, dict) else (lambda k: getattr(selection, k))  # noqa: E731
        has = (lambda k: k in selection) if isinstance(selection, dict) else (lambda k: hasattr(selection, k))  # noqa: E731
        params = {k: get(k) for k in names if has(k) and k not in ("training", "lambdas")}
        return cls(**{**params, "training": training, **kw})

    def _log(self, msg: str) -> None:
        (self.callback or logger.info)(msg)

    def fit(self, X, y=None, full_networks=None):
        """Run the path on X (module docstring); ``full_networks``: an already trained unpenalised model."""
        st = self.training if self.training is not None else TrainSettings(progress=False)
        forces = st.force_weight > 0
        own = set(self._get_param_names()) - {"lambdas"}
        settings = SelectionSettings(  # checks every value, naming the key
            **{f.name: getattr(self, f.name) for f in fields(SelectionSettings) if f.name in own},
            lambdas=None if self.lambdas is None else [float(x) for x in self.lambdas])
        metric = settings.resolved_metric(st.force_weight)
        if metric == "forces" and not forces:
            raise ToolkitError("metric 'forces' needs force training (training.force_weight > 0)")
        if self.lambdas is None and self.prox != "adam":
            raise ToolkitError("the lambda grid from the data assumes prox 'adam'; with prox 'lr' give the lambdas")
        exp = as_experiment(X, y, self.model, self.split, self.split_seed, forces=forces, memory=st.memory_bytes)
        ckpt = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if ckpt is not None:
            ckpt.mkdir(parents=True, exist_ok=True)
        nets = full_networks if full_networks is not None else full_model(exp, st, ckpt / "full" if ckpt else None)[0]
        val_e, val_f = errors(nets, exp, exp.val, forces, st.memory_bytes)
        self.full_networks_, self.metric_ = nets, metric
        self.full_val_rmse_ = val_e if metric == "energy" else val_f
        self._log(f"full model ({sum(exp.data.n_features.values())} functions): validation {metric} RMSE "
                  f"{self.full_val_rmse_:.4g}")
        cost = group_costs(exp, self.angular_cost, self.function_cost)
        if self.lambdas is None:
            self.lambda_max_ = lambda_max(exp, nets, st, cost)
            self.lambdas_ = lambda_grid(self.lambda_max_, self.n_lambdas, self.lambda_ratio)
            self._log(f"lambda_max {self.lambda_max_:.4g} from the data: {len(self.lambdas_)} lambdas "
                      f"{self.lambdas_[0]:.3g} ... {self.lambdas_[-1]:.3g}")
        else:
            self.lambda_max_, self.lambdas_ = None, [float(x) for x in self.lambdas]
        settings = settings.replace(lambdas=list(self.lambdas_), metric=metric)
        refits: dict = {}
        self.path_ = run_path(exp, nets, self.full_val_rmse_, settings, st, ckpt, save_models=self.save_models,
                              provenance=self.provenance, echo=self._log,
                              on_refit=lambda rec, small: refits.__setitem__(rec["step"], small), cost=cost)
        self.chosen_ = choose_step(self.path_, self.full_val_rmse_, self.max_features, self.tolerance, metric,
                                   self.max_per_element)
        self.lambda_ = self.chosen_["lambda"]
        self.reference_val_rmse_ = reference_rmse(self.path_, self.full_val_rmse_, metric)
        keep = {e: list(self.chosen_["selected_idx"][e]) for e in exp.elements}
        self._set_support(exp, keep)
        norms = self.chosen_.get("group_norms")
        self.coef_ = (np.concatenate([np.asarray(norms[e], dtype=float) for e in exp.elements]) if norms
                      else self.support_.astype(float))
        self.networks_ = refits.get(self.chosen_["step"])
        self.model_ = None
        if self.networks_ is not None:
            try:
                self.model_ = exp.to_model(self.networks_, keep)
            except ToolkitError:
                pass  # fake columns: no potential
        return self
