"""Arrhenius fits D(T) = D0 exp(-Ea / (kB T)).

A (weighted) straight line through ln D against 1/(kB T): the slope is -Ea,
the intercept ln D0. With per-temperature standard errors of D the weights are
1 / var(ln D) = (D / se)^2. Units: ``Ea`` in the energy unit of ``kB`` (eV with
kB = 8.617333262e-5 eV/K; epsilon in LJ units with kB = 1), ``D0`` in the
units of D.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..errors import ToolkitError


@dataclass
class ArrheniusFit:
    D0: float
    D0_stderr: float
    Ea: float
    Ea_stderr: float
    r2: float
    n_temperatures: int
    T_min: float
    T_max: float
    kB: float
    weighted: bool

    def predict(self, temperature) -> np.ndarray:
        """D at the given temperature(s)."""
        return self.D0 * np.exp(-self.Ea / (self.kB * np.asarray(temperature, float)))

    def as_dict(self) -> dict:
        return asdict(self)


def fit_arrhenius(temperatures: Sequence[float], D: Sequence[float], kB: float = 1.0,
                  D_stderr: Sequence[float] | None = None) -> ArrheniusFit:
    """Fit D = D0 exp(-Ea / (kB T)); temperatures in K (or epsilon/kB), kB in energy/temperature."""
    T = np.asarray(temperatures, float)
    D = np.asarray(D, float)
    ok = np.isfinite(T) & np.isfinite(D) & (D > 0) & (T > 0)
    if ok.sum() < 2:
        raise ToolkitError(f"Arrhenius fit needs positive D at 2 or more temperatures (have {int(ok.sum())})")
    T, D = T[ok], D[ok]
    x = -1.0 / (kB * T)
    y = np.log(D)
    weighted = False
    w = np.ones_like(y)
    if D_stderr is not None:
        se = np.asarray(D_stderr, float)[ok]
        if np.all(np.isfinite(se)) and np.all(se > 0):
            w = (D / se) ** 2
            weighted = True
    X = np.column_stack([np.ones_like(x), x])
    W = np.diag(w)
    XtWX = X.T @ W @ X
    coef = np.linalg.solve(XtWX, X.T @ W @ y)
    resid = y - X @ coef
    n = len(y)
    if n > 2:
        s2 = float(resid @ W @ resid) / (n - 2)
        cov = s2 * np.linalg.inv(XtWX)
    else:
        cov = np.full((2, 2), np.nan)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    lnD0, Ea = coef
    D0 = float(np.exp(lnD0))
    return ArrheniusFit(D0=D0, D0_stderr=float(D0 * np.sqrt(cov[0, 0])), Ea=float(Ea),
                        Ea_stderr=float(np.sqrt(cov[1, 1])), r2=float(r2), n_temperatures=int(n),
                        T_min=float(T.min()), T_max=float(T.max()), kB=float(kB), weighted=weighted)
