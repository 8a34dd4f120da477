"""The MD cost of each symmetry function for each element: neighbour terms per central atom, measured on data.

Evaluating a function (and its forces) in MD costs time in proportion to the
terms it sums over, for one central atom of its element:

* radial (type 2, neighbour b, cutoff rc): the b neighbours within rc, n_b;
* angular (types 3, 9; neighbours b, c): the neighbour pairs (j, k) within rc
  with elements {b, c}: n_b (n_b - 1) / 2 if b = c, else n_b n_c (type 3 also
  tests r_jk, which costs the same loop);
* weighted types 12 / 13: every neighbour n, or every pair n (n - 1) / 2.

:func:`md_costs` averages these counts over the central atoms of each element
in the given structures and divides by the mean count of all radial functions,
so a typical radial function costs about 1. In an alloy the costs differ per
element: a Zr-Zr angular function of a Cu atom counts other triplets than one
of a Zr atom. Used by the cost-aware selection penalty
(``selection.cost_model: terms``).

:func:`box_costs` turns these per-atom costs into the cost per MD step of the
whole box (``selection.cost_model: box``): a function of element e is evaluated
for every atom of e, so its cost scales with e's share of the atoms. The loss
of an HDNNP sums over atoms, so without it the majority element's functions buy
more accuracy per penalty and an alloy's selection spends its budget on them
(Cu64Zr36: Cu ~70 % of every set on the path with ``terms``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import ToolkitError
from ..structures import Structure
from .definitions import SymFunc


def neighbour_counts(structures: Sequence[Structure], cutoffs: Sequence[float], elements: Sequence[str]
                     ) -> dict[str, dict[float, np.ndarray]]:
    """``counts[e][rc]``: array (central atoms of element e, len(elements)) of neighbours of each element within rc."""
    from ase.neighborlist import neighbor_list

    cutoffs = sorted({float(rc) for rc in cutoffs})
    index = {el: k for k, el in enumerate(elements)}
    out: dict[str, dict[float, list]] = {e: {rc: [] for rc in cutoffs} for e in elements}
    for s in structures:
        atoms = s.to_ase()
        i, j, d = neighbor_list("ijd", atoms, max(cutoffs))
        species = np.array([index[e] for e in s.elements])
        for rc in cutoffs:
            sel = d < rc
            counts = np.zeros((len(s), len(elements)))
            np.add.at(counts, (i[sel], species[j[sel]]), 1.0)
            for e in elements:
                out[e][rc].append(counts[species == index[e]])
    return {e: {rc: np.concatenate(v) if v else np.zeros((0, len(elements))) for rc, v in by.items()}
            for e, by in out.items()}


def box_costs(costs: Mapping[str, np.ndarray], structures: Sequence[Structure]) -> dict[str, np.ndarray]:
    """Per-atom costs (:func:`md_costs`) times each element's share of the atoms in ``structures`` times the
    number of elements (equal shares, and one element, leave them unchanged)."""
    counts = {e: 0 for e in costs}
    for s in structures:
        for e in s.elements:
            if e in counts:
                counts[e] += 1
    total = sum(counts.values())
    if total == 0:
        raise ToolkitError("the MD cost per box needs structures with atoms of the functions' elements")
    return {e: np.asarray(c, float) * counts[e] / total * len(costs) for e, c in costs.items()}


def _terms(sf: SymFunc, counts: np.ndarray, index: Mapping[str, int]) -> float:
    """Mean terms per central atom of one function; ``counts``: (atoms, elements) within its cutoff."""
    if sf.type == 2:
        return float(counts[:, index[sf.neighbors[0]]].mean())
    if sf.type == 12:
        return float(counts.sum(axis=1).mean())
    if sf.type == 13:
        n = counts.sum(axis=1)
        return float((n * (n - 1) / 2).mean())
    b, c = index[sf.neighbors[0]], index[sf.neighbors[1]]
    nb, nc = counts[:, b], counts[:, c]
    return float((nb * (nb - 1) / 2).mean() if b == c else (nb * nc).mean())


def md_costs(symfuncs: Mapping[str, Sequence[SymFunc | None]], structures: Sequence[Structure],
             max_structures: int = 20) -> dict[str, np.ndarray]:
    """Relative MD cost of every function of every element (module docstring); ``None`` entries (fakes) cost 1."""
    structures = list(structures)[:max_structures]
    if not structures:
        raise ToolkitError("the MD cost of the functions needs structures to count neighbours in")
    elements = sorted({e for s in structures for e in s.elements} | set(symfuncs))
    index = {e: k for k, e in enumerate(elements)}
    cutoffs = [sf.rc for sfs in symfuncs.values() for sf in sfs if sf is not None]
    if not cutoffs:
        return {e: np.ones(len(v)) for e, v in symfuncs.items()}
    counts = neighbour_counts(structures, cutoffs, elements)
    raw = {e: np.array([np.nan if sf is None or len(counts[e][float(sf.rc)]) == 0
                        else _terms(sf, counts[e][float(sf.rc)], index) for sf in sfs])
           for e, sfs in symfuncs.items()}
    radial = [t for e, sfs in symfuncs.items() for sf, t in zip(sfs, raw[e])
              if sf is not None and sf.is_radial and np.isfinite(t)]
    unit = float(np.mean(radial)) if radial and np.mean(radial) > 0 else 1.0
    return {e: np.where(np.isfinite(v), v / unit, 1.0) for e, v in raw.items()}
