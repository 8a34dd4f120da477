"""Train the element networks of an HDNNP on energies (and optionally forces).

Units and loss
--------------
Targets are in n2p2's internal units (:meth:`FeatureData.set_normalisation`):
``t = conv_energy (E - N mean_energy - offsets)``, so that per-atom internal
energies have unit variance on the training set. The network outputs sum to
the internal energy of a structure. The loss is

    L = mean_s ((E_s^NN - t_s) / N_s)^2  +  force_weight * mean_{i,a} (F_ia^NN - conv F_ia)^2

(per-atom energy MSE plus force-component MSE, both internal units; forces are
``-dE/dr`` from dE/dG obtained by autograd (``create_graph=True``) contracted
with the stored pair derivatives dG/dr). Reported RMSEs are physical:
energy per atom ``sqrt(MSE_E) / conv_energy``, forces ``sqrt(MSE_F) / conv_energy``.

Optimisation
------------
AdamW; weight decay only on the weights of hidden and output layers (never on
the input layer, whose columns are the lasso groups, nor on biases). Learning
rate from :func:`find_lr` unless given; cosine annealing with warm restarts
(``restart_period`` epochs, multiplied by ``restart_mult`` after each restart,
down to ``lr * lr_min_factor``), stepped per batch. With a
:class:`~toolkit.selection.agl.GroupPenalty` a proximal step follows every
optimiser step (group soft-thresholding of the input-layer columns), and the
early-stopping criterion is the validation *objective* ``L_val + penalty``.
``optimizer: lbfgs`` replaces AdamW by full-batch L-BFGS with a strong-Wolfe
line search (the gradient of the whole training set, accumulated over chunks
of ``batch_size`` structures; ``lbfgs_steps`` iterations per epoch). It is the
better choice for small networks refit on forces: the symmetry functions are
strongly collinear, and a quasi-Newton method follows the ill-conditioned
valleys that first-order steps crawl along (no penalty, no weight decay).
Early stopping: stop when the objective has not improved by more than
``min_delta * |best|`` for ``patience`` epochs; the best weights are restored.

Checkpoints (``checkpoint`` path): every ``checkpoint_every`` epochs the
networks, optimiser, scheduler, early-stopping state and history are written
atomically; calling :func:`train` again with the same path resumes there.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ToolkitError
from ..fileio import atomic_path
from ..settings import TrainSettings  # the training: section of a config
from .data import Batch, FeatureData
from .memory import DEFAULT_MEMORY, structures_per_batch, tensor_bytes


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_objective: float = math.inf
    lr: float = 0.0
    stopped_early: bool = False
    seconds: float = 0.0


# ---------------------------------------------------------------------------
# forward pass, loss, evaluation
# ---------------------------------------------------------------------------

def internal_energies(networks: nn.ModuleDict, batch: Batch, forward: Callable | None = None) -> torch.Tensor:
    """Sum of atomic network outputs per structure (internal units), (B,)."""
    E = None
    for e, x in batch.x.items():
        net = networks[e]
        out = forward(e, x) if forward is not None else net.forward_t(x)
        if batch.seg[e] is None:
            part = out.view(batch.n_structures, batch.n_e[e]).sum(1)
        else:
            part = torch.zeros(batch.n_structures, dtype=out.dtype, device=out.device).index_add_(0, batch.seg[e], out)
        E = part if E is None else E + part
    return E


def batch_forces(networks: nn.ModuleDict, batch: Batch, create_graph: bool = True):
    """Internal energies (B,) and internal forces (M, 3) of the batch's force atoms (``batch.force_atoms``).

    F_k = -sum_i dE/dG_i . dG_i/dr_k: dE/dG by autograd (``create_graph`` keeps
    it differentiable in the weights), contracted with the stored pair
    derivatives of the pairs the force atoms need.
    """
    xs = {e: x.detach().requires_grad_(True) for e, x in batch.x.items()}
    b2 = Batch(x=xs, seg=batch.seg, target=batch.target, n_atoms=batch.n_atoms, n_structures=batch.n_structures,
               n_e=batch.n_e)
    with torch.enable_grad():
        E = internal_energies(networks, b2)
        grads = torch.autograd.grad(E.sum(), list(xs.values()), create_graph=create_graph, allow_unused=True)
    F = None
    for (e, x), g in zip(xs.items(), grads):
        if g is None:
            continue
        pd = batch.pairs[e]
        f = pd.forces(g.T * pd.scale, batch.n_batch_atoms)          # g.T * a: chain rule through the scaling
        F = f if F is None else F + f
    return E, F.index_select(0, batch.force_atoms)


def batch_loss(networks, batch: Batch, force_weight: float = 0.0, forward=None):
    """(loss, energy MSE per atom, force MSE or None), internal units (forces: the batch's force atoms);
    with ``batch.weight`` each structure's terms weighted (means over structures and force components)."""
    w = batch.weight
    if force_weight > 0:
        E, F = batch_forces(networks, batch)
        e_sq = ((E - batch.target) / batch.n_atoms) ** 2
        f_sq = (F - batch.forces) ** 2
        e_mse = (e_sq if w is None else w * e_sq).mean()
        f_mse = (f_sq if w is None else batch.force_weight[:, None] * f_sq).mean()
        return e_mse + force_weight * f_mse, e_mse, f_mse
    E = internal_energies(networks, batch, forward)
    e_sq = ((E - batch.target) / batch.n_atoms) ** 2
    e_mse = (e_sq if w is None else w * e_sq).mean()
    return e_mse, e_mse, None


def evaluate(networks: nn.ModuleDict, data: FeatureData, structures, forces: bool = False,
             batch_size: int | None = None, memory: float = DEFAULT_MEMORY) -> dict:
    """Energy RMSE per atom (and force RMSE over every stored force atom) in physical units, and the
    internal loss terms. Batches of ``batch_size`` structures, default: as many as fit in half of
    ``memory`` bytes (:func:`~toolkit.training.memory.structures_per_batch`)."""
    structures = np.asarray(structures)
    batch_size = batch_size or structures_per_batch(data, forces, memory)
    se, sf, nf, n = 0.0, 0.0, 0, 0
    conv = data._conv
    with torch.no_grad():
        for a in range(0, len(structures), batch_size):
            b = data.batch(structures[a:a + batch_size], forces=forces)
            if forces:
                E, F = batch_forces(networks, b, create_graph=False)
                sf += float(((F.detach() - b.forces) ** 2).sum())
                nf += F.numel()
            else:
                E = internal_energies(networks, b)
            se += float((((E.detach() - b.target) / b.n_atoms) ** 2).sum())
            n += b.n_structures
    # no structures (an empty split) or no force components: not measured (NaN), never a perfect 0
    out = {"e_mse": se / n if n else math.nan, "rmse_energy": math.sqrt(se / n) / conv if n else math.nan}
    if forces:
        out["f_mse"] = sf / nf if nf else math.nan
        out["rmse_forces"] = math.sqrt(sf / nf) / conv if nf else math.nan
    return out


def predict_energies(networks, data: FeatureData, structures, batch_size: int | None = None,
                     memory: float = DEFAULT_MEMORY) -> np.ndarray:
    """Internal energies of ``structures`` (batches as in :func:`evaluate`)."""
    structures = np.asarray(structures)
    batch_size = batch_size or structures_per_batch(data, False, memory)
    out = []
    with torch.no_grad():
        for a in range(0, len(structures), batch_size):
            out.append(internal_energies(networks, data.batch(structures[a:a + batch_size])).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


# ---------------------------------------------------------------------------
# optimiser
# ---------------------------------------------------------------------------

def make_optimizer(networks: nn.ModuleDict, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on hidden/output weights only (not the input layer, not biases)."""
    decay, no_decay = [], []
    for net in networks.values():
        for i, layer in enumerate(net.layers):
            (decay if i > 0 else no_decay).append(layer.weight)
            no_decay.append(layer.bias)
    groups = [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
    kw = {}
    p0 = no_decay[0]
    if p0.device.type == "cpu" or p0.device.type == "cuda":
        kw["foreach"] = True
    return torch.optim.AdamW(groups, lr=lr, **kw)


def apply_mask_(networks: nn.ModuleDict, mask: dict[str, torch.Tensor] | None) -> None:
    """Zero the input-layer columns of inactive features (``mask[e]`` True = active)."""
    if mask is None:
        return
    with torch.no_grad():
        for e, m in mask.items():
            W = networks[e].input_layer.weight
            W.mul_(m.to(W.dtype).to(W.device)[None, :])


def find_lr(networks: nn.ModuleDict, data: FeatureData, train_idx, settings: TrainSettings,
            lr_start: float = 1e-5, lr_end: float = 1.0, steps: int = 100, mask=None) -> float:
    """Learning-rate range test (Smith 2017): exponentially growing lr over ``steps`` batches.

    Returns the lr at the minimum of the smoothed loss divided by 10 (a safe
    point on the descending slope). The networks are restored afterwards.
    """
    saved = copy.deepcopy(networks.state_dict())
    opt = make_optimizer(networks, lr_start, settings.weight_decay)
    gen = torch.Generator().manual_seed(settings.seed + 7919)
    train_idx = np.asarray(train_idx)
    factor = (lr_end / lr_start) ** (1.0 / max(steps - 1, 1))
    lr, best, avg, lrs, losses = lr_start, math.inf, None, [], []
    bs = min(settings.batch_size, len(train_idx))
    micro = structures_per_batch(data, settings.force_weight > 0, settings.memory_bytes)
    for k in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr
        idx = train_idx[torch.randint(len(train_idx), (bs,), generator=gen).numpy()]
        opt.zero_grad(set_to_none=True)
        loss = _loss_backward(networks, data, idx, settings, 0, None, micro)   # micro-batches within the budget
        if not torch.isfinite(loss):
            break
        opt.step()
        apply_mask_(networks, mask)
        v = float(loss.detach())
        avg = v if avg is None else 0.9 * avg + 0.1 * v
        smooth = avg / (1 - 0.9 ** (k + 1)) if k < 50 else avg
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if smooth > 4 * best and k > 10:
            break
        lr *= factor
    networks.load_state_dict(saved)
    if not losses:
        return 1e-3
    i = int(np.argmin(losses))
    return float(min(max(lrs[i] / 10.0, lr_start), 0.1))


# ---------------------------------------------------------------------------
# training loop
# ---------------------------------------------------------------------------

def _progress(enabled: bool, label: str, total: int):
    if not enabled:
        return None, None
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    prog = Progress(TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
    task = prog.add_task(label, total=total, info="")
    prog.start()
    return prog, task


@dataclass
class _EarlyStopping:
    """The best objective so far, its epoch and weights, and the epochs since it improved (checkpointed)."""

    best_state: dict
    best_obj: float = math.inf
    best_epoch: int = 0
    bad: int = 0

    def update(self, obj: float, epoch: int, networks: nn.ModuleDict, min_delta: float) -> None:
        if not math.isfinite(self.best_obj) or obj < self.best_obj - min_delta * abs(self.best_obj):
            self.best_obj, self.best_epoch, self.bad = obj, epoch, 0
            self.best_state = copy.deepcopy(networks.state_dict())
        else:
            self.bad += 1


def _resume_state(ckpt_path: Path | None, label: str) -> dict | None:
    """The checkpoint of a run with this ``label``, or None."""
    if ckpt_path is None or not ckpt_path.is_file():
        return None
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    return state if state.get("label") == label else None


def _optimizer(networks: nn.ModuleDict, settings: TrainSettings, lr: float, n_batches: int):
    """(optimiser, scheduler or None): full-batch L-BFGS (strong Wolfe), or AdamW with cosine warm restarts."""
    if settings.optimizer == "lbfgs":
        return torch.optim.LBFGS(networks.parameters(), lr=lr, max_iter=settings.lbfgs_steps, history_size=50,
                                 line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15), None
    opt = make_optimizer(networks, lr, settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=max(1, settings.restart_period * n_batches), T_mult=max(1, int(settings.restart_mult)),
        eta_min=lr * settings.lr_min_factor)
    return opt, sched


def _train_epoch(networks, data: FeatureData, settings: TrainSettings, opt, sched, perm: torch.Tensor, bs: int,
                 n_batches: int, step_lbfgs, penalty, mask, forward, epoch: int = 0) -> float:
    """One epoch (one L-BFGS step, or ``n_batches`` minibatch steps each followed by the proximal step and the mask);
    returns the mean training loss. ``epoch`` selects the draw of force atoms; a batch larger than the
    memory budget runs in micro-batches (:func:`_loss_backward`)."""
    forces = settings.force_weight > 0
    micro = structures_per_batch(data, forces, settings.memory_bytes)
    if step_lbfgs is not None:
        tot = opt.step(step_lbfgs) * n_batches
        apply_mask_(networks, mask)
        return float(tot) / n_batches
    tot = 0.0
    for k in range(n_batches):
        opt.zero_grad(set_to_none=True)
        loss = _loss_backward(networks, data, perm[k * bs:(k + 1) * bs].numpy(), settings, epoch, forward, micro)
        opt.step()
        if penalty is not None:
            penalty.prox_(networks, opt)
        apply_mask_(networks, mask)
        sched.step()
        tot += loss.detach()
    return float(tot) / n_batches


def _validation_row(networks, data: FeatureData, val_idx, settings: TrainSettings, penalty, epoch: int,
                    lr: float, train_loss: float) -> dict:
    """The history row of an epoch: losses, validation RMSEs, penalty and the early-stopping objective."""
    forces = settings.force_weight > 0
    ev = evaluate(networks, data, val_idx, forces=forces, batch_size=settings.eval_batch_size,
                  memory=settings.memory_bytes)
    val_loss = ev["e_mse"] + (settings.force_weight * ev["f_mse"] if forces else 0.0)
    pen = float(penalty.value(networks)) if penalty is not None else 0.0
    row = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
           "val_rmse_energy": ev["rmse_energy"], "penalty": pen, "objective": val_loss + pen}
    if forces:
        row["val_rmse_forces"] = ev["rmse_forces"]
    if penalty is not None:
        row["n_active"] = int(sum(int(v.sum()) for v in penalty.active(networks).values()))
    return row


def train(networks: nn.ModuleDict, data: FeatureData, train_idx, val_idx, settings: TrainSettings,
          penalty=None, mask: dict[str, torch.Tensor] | None = None, checkpoint: str | Path | None = None,
          label: str = "train", log: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``networks`` in place on ``data[train_idx]``, early-stopping on ``data[val_idx]``.

    ``penalty``: a group penalty with ``value(networks)`` and ``prox_(networks, optimizer)``
    (see :mod:`toolkit.selection.agl`); ``mask[e]``: active input columns (inactive
    columns are zeroed and stay exactly zero); ``checkpoint``: file to write and resume from.
    """
    t0 = time.perf_counter()
    train_idx, val_idx = np.asarray(train_idx), np.asarray(val_idx)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ToolkitError("training needs non-empty training and validation splits")
    if settings.optimizer not in ("adam", "lbfgs"):
        raise ToolkitError(f"unknown optimizer {settings.optimizer!r} (adam or lbfgs)")
    lbfgs = settings.optimizer == "lbfgs"
    if lbfgs and penalty is not None:
        raise ToolkitError("the group-lasso stages need optimizer adam (proximal steps); lbfgs is for refits")
    forces = settings.force_weight > 0
    apply_mask_(networks, mask)
    ckpt_path = Path(checkpoint) if checkpoint else None
    state = _resume_state(ckpt_path, label)
    lr = state["lr"] if state is not None else settings.lr
    if lr is None:
        lr = 1.0 if lbfgs else find_lr(networks, data, train_idx, settings, mask=mask)
    result = TrainResult(lr=lr)
    bs = min(settings.batch_size, len(train_idx))
    n_batches = max(1, len(train_idx) // bs)   # drop the incomplete last batch: constant batch shape
    opt, sched = _optimizer(networks, settings, lr, n_batches)
    stop, start_epoch = _EarlyStopping(copy.deepcopy(networks.state_dict())), 0
    if state is not None:
        networks.load_state_dict(state["networks"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        stop = _EarlyStopping(state["best_state"], state["best_obj"], state["best_epoch"], state["bad"])
        start_epoch, result.history = state["epoch"], state["history"]
        if state.get("done"):
            networks.load_state_dict(stop.best_state)
            result.best_epoch, result.best_objective = stop.best_epoch, stop.best_obj
            result.stopped_early = state.get("stopped_early", False)
            return result

    def save(epoch, done=False, stopped=False):
        if ckpt_path is None:
            return
        payload = {"label": label, "lr": lr, "networks": networks.state_dict(), "optimizer": opt.state_dict(),
                   "scheduler": sched.state_dict() if sched is not None else None, "best_state": stop.best_state,
                   "best_obj": stop.best_obj, "best_epoch": stop.best_epoch, "bad": stop.bad, "epoch": epoch,
                   "history": result.history, "done": done, "stopped_early": stopped}
        with atomic_path(ckpt_path) as tmp:
            torch.save(payload, tmp)

    forward = _compiled_forward(networks) if settings.compile and not forces else None
    train_t = torch.as_tensor(train_idx)
    step_lbfgs = _lbfgs_closure(networks, data, train_idx, settings, mask, forces) if lbfgs else None
    prog, task = _progress(settings.progress, label, settings.epochs)
    if prog:
        prog.update(task, completed=start_epoch)
    stopped, epoch = False, start_epoch
    try:
        for epoch in range(start_epoch, settings.epochs):
            gen = torch.Generator().manual_seed(settings.seed * 100003 + epoch)
            perm = train_t[torch.randperm(len(train_idx), generator=gen)]
            train_loss = _train_epoch(networks, data, settings, opt, sched, perm, bs, n_batches, step_lbfgs, penalty,
                                      mask, forward, epoch)
            row = _validation_row(networks, data, val_idx, settings, penalty, epoch + 1, opt.param_groups[0]["lr"],
                                  train_loss)
            result.history.append(row)
            if log:
                log(row)
            obj = row["objective"]
            if not math.isfinite(obj):
                raise ToolkitError(f"{label}: the loss diverged at epoch {epoch + 1} (lr {lr:.3g}); lower the "
                                   f"learning rate")
            stop.update(obj, epoch + 1, networks, settings.min_delta)
            if prog:
                prog.update(task, advance=1, info=f"val RMSE {row['val_rmse_energy']:.3e}  obj {obj:.3e}")
            if stop.bad >= settings.patience:
                stopped = True
                break
            if settings.checkpoint_every and (epoch + 1) % settings.checkpoint_every == 0:
                save(epoch + 1)
    finally:
        if prog:
            prog.stop()
    networks.load_state_dict(stop.best_state)
    result.best_epoch, result.best_objective, result.stopped_early = stop.best_epoch, stop.best_obj, stopped
    result.seconds = time.perf_counter() - t0
    save(epoch + 1, done=True, stopped=stopped)
    return result


def _loss_backward(networks, data: FeatureData, idx: np.ndarray, settings: TrainSettings, epoch: int, forward,
                   micro: int) -> torch.Tensor:
    """Backward pass of the loss of the batch ``idx``; returns the (detached) loss.

    A batch of more than ``micro`` structures runs in micro-batches whose losses are
    weighted so that the gradients add up to the whole batch's: energy terms by
    structures, force terms by force components.
    """
    fw = settings.force_weight
    if len(idx) <= micro:
        loss, _, _ = batch_loss(networks, data.batch(idx, forces=fw > 0, epoch=epoch), fw, forward)
        loss.backward()
        return loss.detach()
    chunks = [idx[a:a + micro] for a in range(0, len(idx), micro)]
    n_f = [sum(len(a) for a in data._force_atoms(c, epoch)) for c in chunks] if fw > 0 else [1] * len(chunks)
    total = 0.0
    for c, m in zip(chunks, n_f):
        _, e_mse, f_mse = batch_loss(networks, data.batch(c, forces=fw > 0, epoch=epoch), fw, forward)
        part = e_mse * (len(c) / len(idx))
        if fw > 0:
            part = part + fw * f_mse * (m / sum(n_f))
        part.backward()
        total = total + part.detach()
    return total


def _lbfgs_closure(networks, data: FeatureData, train_idx: np.ndarray, settings: TrainSettings, mask, forces: bool):
    """The L-BFGS closure: loss and gradient of the whole training set, in chunks as large as the memory
    budget allows (few large chunks: per-operation overhead dominates small ones).

    Chunks are built once and kept when the derivatives are in memory anyway, else
    while they fit beside the values in the held half of the budget (the line
    search evaluates the loss several times per iteration).
    """
    size = structures_per_batch(data, forces, settings.memory_bytes)
    chunks = np.array_split(train_idx, max(1, math.ceil(len(train_idx) / size)))
    keep = not forces or getattr(data.derivatives, "in_memory", False)
    room = math.inf if keep else 0.5 * settings.memory_bytes - sum(
        tensor_bytes(v) for v in data.values.values() if isinstance(v, torch.Tensor))
    cache: list = []
    held = 0
    params = list(networks.parameters())
    masks = {id(networks[e].input_layer.weight): m for e, m in (mask or {}).items()}

    def closure() -> float:
        nonlocal held
        for p in params:
            p.grad = None
        total = 0.0
        for k, idx in enumerate(chunks):
            if k < len(cache):
                b = cache[k]
            else:
                b = data.batch(idx, forces=forces, epoch=0)
                size_b = tensor_bytes(b)
                if k == len(cache) and held + size_b <= room:
                    cache.append(b)
                    held += size_b
            loss, _, _ = batch_loss(networks, b, settings.force_weight)
            w = len(idx) / len(train_idx)
            (loss * w).backward()
            total += float(loss.detach()) * w
        for p in params:  # inactive input columns get no gradient: they stay exactly zero
            m = masks.get(id(p))
            if m is not None and p.grad is not None:
                p.grad.mul_(m.to(p.dtype).to(p.device)[None, :])
        return total

    return closure


def _compiled_forward(networks: nn.ModuleDict):
    """torch.compile'd per-element forward; falls back to eager if compilation fails."""
    compiled = {}
    failed = set()

    def fwd(e, x):
        if e in failed:
            return networks[e].forward_t(x)
        try:
            if e not in compiled:
                compiled[e] = torch.compile(networks[e].forward_t, dynamic=False)
            return compiled[e](x)
        except Exception:  # pragma: no cover - depends on the compiler toolchain
            failed.add(e)
            return networks[e].forward_t(x)

    return fwd
