"""Adaptive group lasso (AGL) selection of symmetry functions.

Groups
------
Feature i of element e enters the network only through column i of the input
layer, ``w_ei = W_e[:, i]`` (one weight per first-layer neuron). If the whole
column is zero the function is not used and can be removed.

Objective
---------
With the loss L (per-atom energy MSE of :mod:`toolkit.training.trainer`, a
mean over the N training structures),

    J(theta) = L(theta) + (lambda / N) * sum_e sum_i a_ei ||w_ei||_2

``N`` is the number of training structures, so ``lambda`` is the weight of the
penalty against the *summed* squared error (the usual lasso convention): the
same lambda selects about the same set whatever the size of the data set.
Group lasso (GL): a_ei = 1. Adaptive group lasso: ``a_ei = 1 / ||w_ei^GL||^gamma``
with w^GL the GL solution at the same lambda; groups that are zero in GL get
``a = inf`` and stay excluded (Sandberg et al., Mach. Learn.: Sci. Technol. 5,
025043, 2024).

Proximal steps
--------------
After every optimiser step the groups are soft-thresholded exactly,

    w_ei <- w_ei * max(0, 1 - tau_ei / ||w_ei||),   tau_ei = eta_ei * lambda a_ei / N,

which sets whole groups to exactly zero. The step size ``eta_ei``:

* ``prox="adam"`` (default): the step Adam actually took on that group,
  ``lr / mean_k(sqrt(v_hat_k) + eps)`` over the group's entries (v_hat: Adam's
  bias-corrected second moment). The prox then acts in the same metric as the
  gradient step, and a fixed point satisfies the group-lasso optimality
  condition ``||grad_{w_ei} L|| <= lambda a_ei / N`` for the zero groups.
* ``prox="lr"``: ``eta = lr`` (the current learning rate), the plain
  proximal-gradient step; with Adam this compares lambda/N with the
  *normalised* gradient, so lambda has a different scale.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def group_norms(W: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each column of W (n_out, F) -> (F,)."""
    return torch.linalg.vector_norm(W, dim=0)


def group_soft_threshold_(W: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """In place: column i of W scaled by max(0, 1 - tau_i / ||W[:, i]||) (tau may be inf). Returns W.

    This is the proximal operator of ``sum_i tau_i ||W[:, i]||``.
    """
    with torch.no_grad():
        norms = group_norms(W)
        factor = torch.clamp(1.0 - tau.to(W.dtype) / torch.clamp(norms, min=torch.finfo(W.dtype).tiny), min=0.0)
        factor = torch.where(torch.isinf(tau.to(W.dtype)) | (norms == 0), torch.zeros_like(factor), factor)
        W.mul_(factor[None, :])
    return W


def adaptive_weights(norms: np.ndarray | torch.Tensor, gamma: float = 1.0) -> np.ndarray:
    """AGL weights 1 / ||w^GL||^gamma; zero groups get inf (excluded)."""
    n = np.asarray(torch.as_tensor(norms).detach().cpu().numpy(), dtype=float)
    with np.errstate(divide="ignore"):
        w = np.where(n > 0, 1.0 / np.power(np.where(n > 0, n, 1.0), gamma), np.inf)
    return w


class GroupPenalty:
    """The (adaptive) group-lasso penalty ``lambda / N * sum a_ei ||w_ei||`` and its proximal step.

    ``weights[e]``: (F_e,) adaptive weights (default 1; inf = group frozen at zero).
    """

    def __init__(self, lam: float, n_samples: int, weights: dict[str, np.ndarray] | None = None,
                 prox: str = "adam"):
        if prox not in ("adam", "lr"):
            raise ValueError(f"prox must be 'adam' or 'lr', got {prox!r}")
        self.lam = float(lam)
        self.n = int(n_samples)
        self.weights = weights
        self.prox = prox
        self._cache: dict = {}

    def _a(self, e: str, W: torch.Tensor) -> torch.Tensor:
        key = (e, W.device, W.dtype)
        if key not in self._cache:
            F = W.shape[1]
            a = np.ones(F) if self.weights is None else np.asarray(self.weights[e], dtype=float)
            self._cache[key] = torch.as_tensor(a, dtype=W.dtype, device=W.device)
        return self._cache[key]

    def value(self, networks: nn.ModuleDict) -> torch.Tensor:
        tot = 0.0
        for e, net in networks.items():
            W = net.input_layer.weight
            a = self._a(e, W)
            n = group_norms(W.detach())
            finite = torch.isfinite(a)
            tot = tot + (a[finite] * n[finite]).sum()
        return torch.as_tensor(tot) * (self.lam / self.n)

    def step_sizes(self, W: torch.Tensor, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """Per-group step size eta (F,) of the last optimiser step (see module docstring)."""
        group = next(g for g in optimizer.param_groups if any(p is W for p in g["params"]))
        lr = group["lr"]
        if self.prox == "lr":
            return torch.full((W.shape[1],), lr, dtype=W.dtype, device=W.device)
        st = optimizer.state.get(W, {})
        if "exp_avg_sq" not in st:
            return torch.full((W.shape[1],), lr, dtype=W.dtype, device=W.device)
        beta2 = group["betas"][1]
        step = float(st["step"])
        v_hat = st["exp_avg_sq"] / (1.0 - beta2**step)
        denom = (v_hat.sqrt() + group["eps"]).mean(0)
        return lr / denom

    def prox_(self, networks: nn.ModuleDict, optimizer: torch.optim.Optimizer) -> None:
        """Exact group soft-thresholding of every element's input-layer columns."""
        with torch.no_grad():
            for e, net in networks.items():
                W = net.input_layer.weight
                tau = self.step_sizes(W, optimizer) * self._a(e, W) * (self.lam / self.n)
                group_soft_threshold_(W, tau)

    def active(self, networks: nn.ModuleDict) -> dict[str, torch.Tensor]:
        return {e: group_norms(net.input_layer.weight.detach()) > 0 for e, net in networks.items()}


def frozen_mask(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Active-column mask from adaptive weights (inf = frozen)."""
    return {e: torch.as_tensor(np.isfinite(w)) for e, w in weights.items()}
