"""Selection results per element network: what each element keeps, and what its functions cost in MD.

With several elements every element has its own network and its own
candidates (:mod:`toolkit.symfuncs.grids`), so a set is reported per element:
candidates, kept functions (radial / angular) and, when measured
(:func:`toolkit.symfuncs.cost.md_costs`), the MD cost of the kept functions
(neighbour terms per atom, in units of a mean radial function).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..training.experiment import Experiment


def element_summary(exp: Experiment, keep: Mapping[str, Sequence[int]],
                    cost: Mapping[str, np.ndarray] | None = None) -> dict[str, dict]:
    """``{element: {n_candidates, n_kept, n_radial, n_angular, [md_cost, md_cost_all], functions}}``."""
    out = {}
    for e in exp.elements:
        sfs = exp.data.symfuncs[e] if exp.data.symfuncs else [None] * exp.data.n_features[e]
        idx = sorted(int(i) for i in keep[e])
        row = {"n_candidates": int(exp.data.n_features[e]), "n_kept": len(idx),
               "n_radial": sum(1 for i in idx if sfs[i] is not None and sfs[i].is_radial),
               "n_angular": sum(1 for i in idx if sfs[i] is not None and sfs[i].is_angular)}
        if cost is not None:
            c = np.asarray(cost[e], float)
            row["md_cost"] = float(c[idx].sum())
            row["md_cost_all"] = float(c[: exp.data.n_features[e]].sum())
        row["functions"] = [exp.data.names[e][i] for i in idx]
        out[e] = row
    return out


def column_groups(exp: Experiment, n_fakes: int = 0) -> list[tuple[str, int]]:
    """``[(element, columns)]`` of the selection-matrix plot: each element's functions, then its ``n_fakes`` fakes."""
    return [(e, int(exp.data.n_features[e]) + n_fakes) for e in exp.elements]
