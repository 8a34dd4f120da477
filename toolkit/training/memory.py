"""Batch sizes from a memory budget: how many structures a training or evaluation step may hold at once.

A budget (bytes; ``"8GB"``, ``"512MB"`` or a number) bounds what one step
holds, whatever the size of the data set: evaluation splits its structures
into batches that fit, a training batch larger than the budget is processed
in micro-batches whose gradients add up to the batch's (the same numbers), and
the SF values and derivatives stay on disk (read per batch) unless they fit in
half of it (values first: :func:`toolkit.training.data.held_memory`).

Estimate per structure (bytes, training dtype of ``itemsize`` bytes):

* values: ``F x atoms`` inputs, plus the hidden activations and their
  gradients (a factor :data:`VALUE_FACTOR`);
* with forces: the stored pairs of the structure times the bytes of one pair
  (radial scalars, the angular share, pair vectors and indices), times
  :data:`PAIR_FACTOR` for the gathered dE/dG rows, the products and the
  autograd graph of the force loss.
"""

from __future__ import annotations

import re

from ..errors import ToolkitError

#: Working copies of the inputs in one step (gather, activations, gradients).
VALUE_FACTOR = 4.0
#: Working copies of the pair derivatives in one force step (gathered dE/dG rows,
#: products, the graph kept for the backward pass of the force loss).
PAIR_FACTOR = 4.0
#: Default budget of a training step (bytes).
DEFAULT_MEMORY = 4e9

_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_memory(value) -> float:
    """Bytes of ``value``: a number, or a string such as ``8GB``, ``512 MB``, ``2GiB``."""
    if isinstance(value, bool):
        raise ToolkitError(f"memory budget must be a size such as 8GB, got {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if not m or m.group(2).upper() not in _UNITS:
            raise ToolkitError(f"memory budget must be a size such as 8GB or 512MB, got {value!r}")
        out = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if out <= 0:
        raise ToolkitError(f"memory budget must be positive, got {value!r}")
    return out


def bytes_per_structure(data, forces: bool) -> float:
    """Estimated bytes one structure adds to a training or evaluation step of ``data`` (a FeatureData)."""
    import torch

    item = torch.empty(0, dtype=data.dtype).element_size()
    n_atoms = float(data.n_atoms.mean()) if len(data.n_atoms) else 1.0
    f_max = max(data.n_features.values()) if data.n_features else 1
    out = VALUE_FACTOR * item * f_max * n_atoms
    if forces and data.derivatives is not None:
        store = data.derivatives
        out += PAIR_FACTOR * store.pairs_per_structure() * store.bytes_per_pair()
        out += 2 * 3 * item * n_atoms            # forces of every atom of the batch, before the selection
    return out


def structures_per_batch(data, forces: bool, memory: float, share: float = 0.5) -> int:
    """Structures whose step fits in ``share`` of the budget ``memory`` (bytes); at least one."""
    return max(1, int(share * memory // max(bytes_per_structure(data, forces), 1.0)))


def tensor_bytes(obj) -> int:
    """Bytes of the tensors in ``obj`` (a tensor, or dicts and dataclasses of them, nested)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if hasattr(obj, "__dataclass_fields__"):
        return sum(tensor_bytes(getattr(obj, f)) for f in obj.__dataclass_fields__)
    return 0
