"""Diffusion coefficients from mean-squared displacements (Einstein relation).

In d dimensions MSD(t) -> 2 d D t at long times (6 D t in 3D). :func:`fit_diffusion`
fits a straight line MSD = 2 d D t + b over a window in the diffusive regime:
by default the last 80 % of the measurement (``fit_start=0.2``), which skips
the ballistic (MSD ~ t^2) and caging parts at short times. The window, the
fit's standard error and the log-log slope ``alpha`` over the window (1 in the
diffusive regime, 2 ballistic, < 1 sub-diffusive) are returned so that the
choice can be checked.

Units: D in length^2 / time of the input (Angstrom^2/ps for metal units =
1e-4 cm^2/s; sigma^2/tau for LJ).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ToolkitError


@dataclass
class DiffusionFit:
    """Result of an Einstein fit: ``D`` and the window ``[t_start, t_end]`` it came from."""

    D: float
    D_stderr: float  # standard error of the slope / (2 d)
    intercept: float
    t_start: float
    t_end: float
    n_points: int
    alpha: float  # log-log slope of the MSD over the window (1 = diffusive)

    def as_dict(self) -> dict:
        return asdict(self)


def read_msd(path: str | os.PathLike, timestep: float) -> tuple[np.ndarray, np.ndarray]:
    """``(t, msd)`` from a ``fix ave/time`` file of ``c_msd[4]``; t from the first line, in time units."""
    path = Path(path)
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise InputFileError(path, None, f"cannot read MSD values: {exc}") from None
    if data.shape[0] < 3 or data.shape[1] < 2:
        raise InputFileError(path, None, f"need at least 3 lines of 'step msd', found {data.shape[0]}")
    steps, msd = data[:, 0], data[:, -1]
    if not np.all(np.isfinite(msd)):
        bad = int(np.argmax(~np.isfinite(msd)))
        raise InputFileError(path, None, f"non-finite MSD at step {int(steps[bad])}")
    return (steps - steps[0]) * timestep, msd


def msd_from_positions(positions: np.ndarray, remove_com: bool = True) -> np.ndarray:
    """Single-origin MSD of unwrapped positions ``(n_frames, n_atoms, d)``, as LAMMPS ``compute msd``.

    With ``remove_com`` the centre-of-mass drift is removed (``com yes``; equal masses).
    """
    x = np.asarray(positions, float)
    disp = x - x[0]
    if remove_com:
        disp = disp - disp.mean(axis=1, keepdims=True)
    return (disp ** 2).sum(axis=2).mean(axis=1)


def fit_diffusion(t: np.ndarray, msd: np.ndarray, dim: int = 3, fit_start: float = 0.2,
                  fit_end: float = 1.0) -> DiffusionFit:
    """Einstein fit of MSD(t) over ``[fit_start, fit_end]`` x the last time (fractions).

    Returns D = slope / (2 ``dim``) with its standard error.
    """
    t = np.asarray(t, float)
    msd = np.asarray(msd, float)
    if not 0.0 <= fit_start < fit_end <= 1.0:
        raise ToolkitError(f"fit window fractions must satisfy 0 <= start < end <= 1 (got {fit_start}, {fit_end})")
    t_max = t[-1]
    sel = (t >= fit_start * t_max - 1e-12 * t_max) & (t <= fit_end * t_max + 1e-12 * t_max)
    if sel.sum() < 3:
        raise ToolkitError(f"only {int(sel.sum())} MSD points in the fit window; record the MSD more often")
    tw, mw = t[sel], msd[sel]
    A = np.column_stack([tw, np.ones_like(tw)])
    coef, res, *_ = np.linalg.lstsq(A, mw, rcond=None)
    slope, intercept = coef
    n = len(tw)
    resid = mw - A @ coef
    s2 = float(resid @ resid) / max(n - 2, 1)
    var_slope = s2 / float(((tw - tw.mean()) ** 2).sum())
    pos = (tw > 0) & (mw > 0)
    alpha = float(np.polyfit(np.log(tw[pos]), np.log(mw[pos]), 1)[0]) if pos.sum() >= 2 else float("nan")
    return DiffusionFit(D=float(slope / (2 * dim)), D_stderr=float(np.sqrt(var_slope) / (2 * dim)),
                        intercept=float(intercept), t_start=float(tw[0]), t_end=float(tw[-1]), n_points=int(n),
                        alpha=alpha)


def random_walk(n_particles: int, n_steps: int, D: float, dt: float, dim: int = 3,
                seed: int = 0) -> np.ndarray:
    """Unwrapped positions ``(n_steps + 1, n_particles, dim)`` of Brownian walkers with diffusion coefficient D.

    Each Cartesian step is Gaussian with variance 2 D dt. For tests and demos.
    """
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, np.sqrt(2 * D * dt), size=(n_steps, n_particles, dim))
    return np.concatenate([np.zeros((1, n_particles, dim)), np.cumsum(steps, axis=0)])


def random_walk_msd(n_particles: int, n_steps: int, D: float, dt: float, dim: int = 3, seed: int = 0,
                    remove_com: bool = True) -> np.ndarray:
    """Single-origin MSD ``(n_steps + 1,)`` of Brownian walkers, without storing the trajectories.

    Same statistics as ``msd_from_positions(random_walk(...))`` for walker
    counts too large to keep every position in memory (tests of the fit).
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n_particles, dim))
    out = np.zeros(n_steps + 1)
    sigma = np.sqrt(2 * D * dt)
    for k in range(1, n_steps + 1):
        x += rng.normal(0.0, sigma, size=x.shape)
        disp = x - x.mean(axis=0) if remove_com else x
        out[k] = (disp ** 2).sum(axis=1).mean()
    return out


def msd_multi_origin(positions: np.ndarray, max_lag: int | None = None, remove_com: bool = True) -> np.ndarray:
    """MSD averaged over every time origin, for lags ``0 .. max_lag`` (default: half the frames).

    ``positions``: unwrapped, ``(n_frames, n_atoms, d)`` at equal time spacing.
    Far less noisy than the single-origin MSD of LAMMPS ``compute msd`` at the
    same run length, at the cost of the trajectory's coarser time resolution.
    """
    x = np.asarray(positions, float)
    if remove_com:
        x = x - x.mean(axis=1, keepdims=True)
    n = len(x)
    max_lag = n // 2 if max_lag is None else min(int(max_lag), n - 1)
    out = np.zeros(max_lag + 1)
    for lag in range(1, max_lag + 1):
        d = x[lag:] - x[:-lag]
        out[lag] = (d ** 2).sum(axis=2).mean()
    return out


def read_unwrapped(path: str | os.PathLike, timestep: float) -> tuple[np.ndarray, np.ndarray]:
    """``(t, positions)`` of a LAMMPS dump with ``x y z ix iy iz`` (or ``xu yu zu``), unwrapped.

    ``t`` in time units from the first frame (``timestep`` = MD timestep).
    """
    from .dump import iter_dump

    steps, frames = [], []
    for f in iter_dump(path):
        if f.has("xu", "yu", "zu"):
            pos = np.column_stack([f.column("xu"), f.column("yu"), f.column("zu")])
        elif f.has("x", "y", "z", "ix", "iy", "iz"):
            img = np.column_stack([f.column("ix"), f.column("iy"), f.column("iz")])
            pos = np.column_stack([f.column("x"), f.column("y"), f.column("z")]) + img @ f.cell
        else:
            raise InputFileError(path, None, "need columns x y z ix iy iz (or xu yu zu) to unwrap positions")
        steps.append(f.step)
        frames.append(pos)
    if len(frames) < 3:
        raise InputFileError(path, None, f"need at least 3 frames, found {len(frames)}")
    steps = np.asarray(steps, float)
    return (steps - steps[0]) * timestep, np.stack(frames)
