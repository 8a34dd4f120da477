"""n2p2's symmetry-function scaling (``SymFnc::scale``), as one affine map per function.

With statistics min, max, mean and sigma (population standard deviation) of
the raw function G, n2p2 scales

    scale:        smin + (smax - smin) (G - Gmin) / (Gmax - Gmin)
    center:       G - Gmean
    scalecenter:  smin + (smax - smin) (G - Gmean) / (Gmax - Gmin)
    scalesigma:   smin + (smax - smin) (G - Gmean) / sigma
    none:         G

i.e. ``a G + b`` per function; ``a`` is also the chain-rule factor of forces.
The model (:meth:`toolkit.model.HDNNP.scale`) and the training data
(:meth:`toolkit.training.FeatureData.apply_scaling`) both scale with
:func:`scaling_affine`. G, ``smin`` and ``smax`` are in the function's own
units (the scaled values are dimensionless for all modes but center/none).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ToolkitError

SCALING_MODES = ("none", "scale", "center", "scalecenter", "scalesigma")


def scaling_affine(stats: np.ndarray, mode: str, smin: float = 0.0, smax: float = 1.0,
                   names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), float64 arrays (F,), with scaled = a * G + b per function; ``stats`` is (F, 4): min, max, mean, sigma.

    A constant function under a mode that divides by its range raises, naming the function
    (``names[i]``, else its column).
    """
    stats = np.asarray(stats, dtype=float).reshape(-1, 4)
    gmin, gmax, gmean, gsig = stats.T
    F = len(gmin)
    if mode in ("scale", "scalecenter", "scalesigma"):
        denom = gsig if mode == "scalesigma" else gmax - gmin
        bad = np.flatnonzero(denom == 0)
        if len(bad):
            i = int(bad[0])
            name = names[i] if names is not None else f"column {i}"
            raise ToolkitError(f"symmetry function {i + 1} ({name}) is constant on the training data "
                               f"(value {gmin[i]:.6g}); scaling mode {mode!r} would divide by zero: remove it")
        a = (smax - smin) / denom
        ref = gmin if mode == "scale" else gmean
        return a, smin - a * ref
    if mode == "center":
        return np.ones(F), -gmean
    if mode == "none":
        return np.ones(F), np.zeros(F)
    raise ToolkitError(f"unknown scaling mode {mode!r} (one of {', '.join(SCALING_MODES)})")
