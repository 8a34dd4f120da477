"""The lambda grid of the path from the data (glmnet's rule), when no lambdas are given.

With the objective ``J = L + (lambda / N) sum_i a_i ||w_i||`` of
:mod:`toolkit.selection.agl`, the first-layer columns are all zero at a
stationary point exactly when, at ``w = 0``,

    ||grad_{w_i} L|| <= lambda a_i / N   for every group i,

so the smallest lambda at which every group vanishes is

    lambda_max = N max_i ||grad_{w_i} L(w = 0)|| / a_i .

The gradient is taken on the training structures (energy and, with force
training, force terms: the loss of :mod:`toolkit.training.trainer`) with the
first layers of the given networks set to zero, so every atom sees a constant
network output, and the output biases set so that this constant is the
least-squares best per-atom energy of each element (glmnet's fitted intercept).
The deeper layers are those of the networks given (the unpenalised full model
the path starts from); since the group lasso adapts them, the path may empty
a little above or below ``lambda_max``, and it stops at the first empty set.
The grid is log-spaced from ``lambda_max * ratio`` to ``lambda_max``
(ascending, the order of the path).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..errors import ToolkitError
from ..training.experiment import Experiment
from ..training.memory import structures_per_batch
from ..training.trainer import TrainSettings, batch_loss
from .agl import group_norms


def _set_constant_output_(nets: nn.ModuleDict, exp: Experiment, train: np.ndarray, chunk: int) -> None:
    """With zero first layers: output biases so that the per-atom constants fit the training energies best."""
    elements = list(exp.elements)
    A, b = [], []
    for a in range(0, len(train), chunk):
        batch = exp.data.batch(train[a:a + chunk])
        n = batch.n_atoms.double().cpu().numpy()
        idx = train[a:a + chunk]
        A.append(np.stack([exp.data.counts[e][idx] / n for e in elements], 1))
        b.append(batch.target.double().cpu().numpy() / n)
    best = np.linalg.lstsq(np.concatenate(A), np.concatenate(b), rcond=None)[0]
    with torch.no_grad():
        for e, c in zip(elements, best):
            net = nets[e]
            out = net.layers[-1]  # linear, as in n2p2
            now = float(net(torch.zeros((1, net.input_layer.in_features), dtype=out.weight.dtype,
                                        device=out.weight.device)).flatten()[0])
            out.bias.add_((c - now) * (out.in_features if net.normalize_nodes else 1.0))


def lambda_max(exp: Experiment, networks: nn.ModuleDict, train_settings: TrainSettings,
               weights: dict[str, np.ndarray] | None = None) -> float:
    """The smallest lambda at which every first-layer group is zero (module docstring).

    ``weights[e]``: the groups' penalty weights a_i (default 1; e.g. the angular cost).
    """
    nets = copy.deepcopy(networks)
    for p in nets.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for net in nets.values():
            net.input_layer.weight.zero_()
    train = np.asarray(exp.train)
    forces = train_settings.force_weight > 0
    chunk = max(1, min(int(train_settings.batch_size),
                       structures_per_batch(exp.data, forces, train_settings.memory_bytes)))
    _set_constant_output_(nets, exp, train, chunk)
    Ws = {e: nets[e].input_layer.weight.requires_grad_(True) for e in exp.elements}
    for a in range(0, len(train), chunk):
        idx = train[a:a + chunk]
        loss, _, _ = batch_loss(nets, exp.data.batch(idx, forces=forces), train_settings.force_weight)
        (loss * (len(idx) / len(train))).backward()
    ratio = []
    for e, W in Ws.items():
        g = group_norms(W.grad.double()).cpu().numpy() if W.grad is not None else np.zeros(W.shape[1])
        a = np.ones_like(g) if weights is None else np.asarray(weights[e], dtype=float)
        ratio.append(g / a)
    lam = len(train) * float(np.max(np.concatenate(ratio)))
    if not np.isfinite(lam) or lam <= 0:
        raise ToolkitError("the lambda grid from the data: the loss gradient at zero first-layer weights vanishes "
                           "(constant targets?); give the lambdas explicitly")
    return lam


def lambda_grid(lam_max: float, num: int = 10, ratio: float = 1e-3) -> list[float]:
    """``num`` log-spaced lambdas from ``lam_max * ratio`` to ``lam_max``, ascending."""
    if num < 1 or not 0 < ratio <= 1:
        raise ToolkitError(f"lambda grid: need num >= 1 and 0 < ratio <= 1, got num {num}, ratio {ratio}")
    if num == 1:
        return [float(lam_max)]
    return [float(x) for x in np.geomspace(lam_max * ratio, lam_max, int(num))]
