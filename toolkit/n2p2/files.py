"""n2p2's ``scaling.data`` and ``weights.NNN.data`` files.

``scaling.data``: one row per element and symmetry function, columns
``e_index sf_index sf_min sf_max sf_mean sf_sigma`` (1-based indices, elements
by atomic number, functions in n2p2's sorted order).

``weights.NNN.data`` (NNN = atomic number, zero-padded): one connection per row,
``value t index l_s n_s l_e n_e``; for each layer transition, the weights
ordered by start neuron then end neuron, then the biases of the end layer
(n2p2's "alternative ordering" used on disk). Written with ``%24.16E``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError, StructureError
from ..fileio import atomic_write
from ..structures import atomic_number

_SCALING_HEADER = """\
################################################################################
# Symmetry function scaling data.
################################################################################
# Col  Name     Description
################################################################################
# 1    e_index  Element index.
# 2    sf_index Symmetry function index.
# 3    sf_min   Symmetry function minimum.
# 4    sf_max   Symmetry function maximum.
# 5    sf_mean  Symmetry function mean.
# 6    sf_sigma Symmetry function sigma.
#########################################################################################################################
#        1          2                        3                        4                        5                        6
#  e_index   sf_index                   sf_min                   sf_max                  sf_mean                 sf_sigma
#########################################################################################################################
"""

_WEIGHTS_HEADER = """\
################################################################################
# Neural network connection values (weights and biases).
################################################################################
# Col  Name       Description
################################################################################
# 1    connection Neural network connection value.
# 2    t          Connection type (a = weight, b = bias).
# 3    index      Index enumerating weights.
# 4    l_s        Starting point layer (end point layer for biases).
# 5    n_s        Starting point neuron in starting layer (end point neuron for biases).
# 6    l_e        End point layer.
# 7    n_e        End point neuron in end layer.
################################################################################
#                      1 2         3     4     5     6     7
#             connection t     index   l_s   n_s   l_e   n_e
############################################################
"""


def weights_filename(element: str) -> str:
    """``weights.013.data`` for Al: n2p2 names weight files by atomic number."""
    return f"weights.{atomic_number(element):03d}.data"


def read_scaling(path: str | os.PathLike, n_functions: dict[str, int], elements: list[str]) -> dict[str, np.ndarray]:
    """Scaling statistics per element: array (F, 4) of min, max, mean, sigma.

    ``n_functions[element]`` is the expected count; rows must come in order.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    rows: dict[str, list[list[float]]] = {e: [] for e in elements}
    with open(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) not in (5, 6):
                raise InputFileError(path, lineno, f"expected 5 or 6 columns (e_index sf_index min max mean [sigma]), found {len(line)}")
            try:
                e_idx, sf_idx = int(line[0]), int(line[1])
                vals = [float(x) for x in line[2:]] + ([0.0] if len(line) == 5 else [])
            except ValueError:
                raise InputFileError(path, lineno, "cannot read numbers") from None
            if not 1 <= e_idx <= len(elements):
                raise InputFileError(path, lineno, f"element index {e_idx} out of range 1..{len(elements)}")
            e = elements[e_idx - 1]
            if sf_idx != len(rows[e]) + 1:
                raise InputFileError(path, lineno, f"expected symmetry function {len(rows[e]) + 1} of {e}, found {sf_idx}")
            if not all(np.isfinite(vals)):
                raise InputFileError(path, lineno, "non-finite scaling value")
            rows[e].append(vals)
    out = {}
    for e in elements:
        if len(rows[e]) != n_functions[e]:
            raise InputFileError(path, None, f"{len(rows[e])} scaling rows for {e}, but input.nn defines "
                                             f"{n_functions[e]} symmetry functions for it")
        out[e] = np.array(rows[e], dtype=float).reshape(-1, 4)
    return out


def write_scaling(path: str | os.PathLike, stats: dict[str, np.ndarray], elements: list[str]) -> Path:
    """Write ``scaling.data`` atomically; ``stats[element]`` is (F, 4): min, max, mean, sigma."""
    for e in elements:
        if not np.all(np.isfinite(np.asarray(stats[e], dtype=float))):
            raise StructureError(f"{path}: scaling statistics of {e} are not finite (NaN/inf); nothing was written")
    with atomic_write(path) as fh:
        fh.write(_SCALING_HEADER)
        for e_idx, e in enumerate(elements, start=1):
            for sf_idx, row in enumerate(np.asarray(stats[e], dtype=float), start=1):
                fh.write(f"{e_idx:10d} {sf_idx:10d} " + " ".join(f"{x:24.16E}" for x in row) + "\n")
    return Path(path)


def read_weights(path: str | os.PathLike, layer_sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights and biases per layer transition: [(W (n_out, n_in), b (n_out,)), ...]."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    values, lines = [], []
    with open(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            tok = raw.split("#", 1)[0].split()
            if not tok:
                continue
            try:
                values.append(float(tok[0]))
            except ValueError:
                raise InputFileError(path, lineno, f"cannot read connection value {tok[0]!r}") from None
            if not np.isfinite(values[-1]):
                raise InputFileError(path, lineno, "non-finite weight")
            lines.append(lineno)
    expected = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    if len(values) != expected:
        arch = "-".join(map(str, layer_sizes))
        raise InputFileError(path, None, f"{len(values)} connections, but the network {arch} from input.nn "
                                         f"needs {expected} (wrong layer sizes or symmetry-function count?)")
    out, k = [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = np.array(values[k:k + n_in * n_out]).reshape(n_in, n_out).T.copy()
        k += n_in * n_out
        b = np.array(values[k:k + n_out])
        k += n_out
        out.append((W, b))
    return out


def write_weights(path: str | os.PathLike, layers: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """Write ``weights.NNN.data`` atomically from [(W (n_out, n_in), b (n_out,)), ...]."""
    if not all(np.all(np.isfinite(W)) and np.all(np.isfinite(b)) for W, b in layers):
        raise StructureError(f"{path}: the network weights are not finite (NaN/inf: a diverged training?); "
                             "nothing was written")
    with atomic_write(path) as fh:
        fh.write(_WEIGHTS_HEADER)
        count = 0
        for l, (W, b) in enumerate(layers, start=1):
            W = np.asarray(W, dtype=float)
            n_out, n_in = W.shape
            for j in range(n_in):
                for k in range(n_out):
                    count += 1
                    fh.write(f"{W[k, j]:24.16E} a {count:9d} {l - 1:5d} {j + 1:5d} {l:5d} {k + 1:5d}\n")
            for k in range(n_out):
                count += 1
                fh.write(f"{float(b[k]):24.16E} b {count:9d} {l:5d} {k + 1:5d}\n")
    return Path(path)
