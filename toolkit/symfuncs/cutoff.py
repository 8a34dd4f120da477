"""n2p2's cutoff functions f_c(r) and their derivatives, vectorised in PyTorch.

With an inner cutoff r_ci = alpha * r_c (``cutoff_type N alpha``), every type
but 2 and 3 is 1 below r_ci and f(x) with x = (r - r_ci)/(r_c - r_ci) above,
and 0 from r_c on (n2p2's CutoffFunction):

== ======= ==========================================
0  hard    1
1  cos     (cos(pi x) + 1) / 2
2  tanhu   tanh^3(1 - r/r_c)              (no alpha)
3  tanh    c tanh^3(1 - r/r_c), f(0) = 1  (no alpha)
4  exp     exp(1 - 1/(1 - x^2))
5  poly1   (2x - 3) x^2 + 1
6  poly2   ((15 - 6x) x - 10) x^3 + 1
7  poly3   (x (x (20x - 70) + 84) - 35) x^4 + 1
8  poly4   (x (x ((315 - 70x) x - 540) + 420) - 126) x^5 + 1
== ======= ==========================================

The polynomial forms are evaluated in n2p2's Horner order so that values agree
to the last bit where the arithmetic allows.
"""

from __future__ import annotations

import math

import torch

_E = math.exp(1.0)
TANH_PRE = ((_E + 1.0 / _E) / (_E - 1.0 / _E)) ** 3


def cutoff_fdf(r: torch.Tensor, rc: float, cutoff_type: int = 1, alpha: float = 0.0):
    """Return ``(fc, dfc/dr)`` at distances ``r`` (same shape as ``r``; length units)."""
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"cutoff alpha must satisfy 0 <= alpha < 1 (got {alpha})")
    inside = r < rc
    if cutoff_type in (2, 3):
        t = torch.tanh(1.0 - r / rc)
        t2 = t * t
        pre = TANH_PRE if cutoff_type == 3 else 1.0
        f = pre * t * t2
        df = 3.0 * pre * t2 * (t2 - 1.0) / rc
    elif cutoff_type == 0:
        f = torch.ones_like(r)
        df = torch.zeros_like(r)
    else:
        rci = rc * alpha
        iw = 1.0 / (rc - rci)
        x = (r - rci) * iw
        if cutoff_type == 1:
            c = torch.cos(math.pi * x)
            f = 0.5 * (c + 1.0)
            # n2p2 writes sin(pi x) as sqrt(1 - cos^2); use sin for accuracy near x = 0, 1.
            df = -0.5 * iw * math.pi * torch.sin(math.pi * x)
        elif cutoff_type == 4:
            xs = torch.where(inside, x, torch.zeros_like(x))
            d = 1.0 - xs * xs
            f = torch.exp(1.0 - 1.0 / d)
            df = iw * f * (-2.0 * xs / (d * d))
        elif cutoff_type == 5:
            f = (2.0 * x - 3.0) * x * x + 1.0
            df = iw * (x * (6.0 * x - 6.0))
        elif cutoff_type == 6:
            x2 = x * x
            f = ((15.0 - 6.0 * x) * x - 10.0) * x * x2 + 1.0
            df = iw * (x2 * ((60.0 - 30.0 * x) * x - 30.0))
        elif cutoff_type == 7:
            x2 = x * x
            f = (x * (x * (20.0 * x - 70.0) + 84.0) - 35.0) * x2 * x2 + 1.0
            df = iw * (x2 * x * (x * (x * (140.0 * x - 420.0) + 420.0) - 140.0))
        elif cutoff_type == 8:
            x4 = x * x
            x4 = x4 * x4
            f = (x * (x * ((315.0 - 70.0 * x) * x - 540.0) + 420.0) - 126.0) * x * x4 + 1.0
            df = iw * (x4 * (x * (x * ((2520.0 - 630.0 * x) * x - 3780.0) + 2520.0) - 630.0))
        else:
            raise ValueError(f"unknown cutoff_type {cutoff_type} (n2p2 knows 0-8)")
        below = r < rci
        f = torch.where(below, torch.ones_like(f), f)
        df = torch.where(below, torch.zeros_like(df), df)
    zero = torch.zeros_like(f)
    return torch.where(inside, f, zero), torch.where(inside, df, zero)
