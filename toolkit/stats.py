"""Standard errors of derived quantities (first-order error propagation of independent estimates)."""

from __future__ import annotations

import numpy as np


def ratio_sem(a, a_sem, b, b_sem):
    """Standard error of ``a / b`` (and of ``a / b - 1``) from those of ``a`` and ``b``, assumed independent.

    Elementwise on arrays; NaN where any input is NaN or ``a`` or ``b`` is 0.
    """
    a, sa, b, sb = (np.asarray(x, float) for x in (a, a_sem, b, b_sem))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(a / b) * np.hypot(sa / a, sb / b)
    out = np.where((a == 0) | (b == 0), np.nan, out)
    return float(out) if out.ndim == 0 else out
