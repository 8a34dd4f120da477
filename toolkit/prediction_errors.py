"""Errors of predicted energies and forces against the data's reference values, per structure and per state point.

A potential can fit the data well on average and still be biased between state
points: e.g. the undercooled liquid's configurations a meV/atom too low against
the hot liquid's, which slows its diffusion (docs/systems.md, Cu-Zr). The
per-state table shows that bias beside the force error.

Units: those of the data (energy per atom, energy/length for forces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .structures import Structure

#: columns of ``states.csv`` (``hdnnp generate``) that name a state point; present ones are used
STATE_COLUMNS = ("state", "start", "temperature", "density_target", "pressure_target")


def structure_errors(structures: Sequence[Structure], energies: Sequence[float],
                     forces: Sequence[np.ndarray] | None = None):
    """One row per structure with a reference energy: ``structure, n_atoms, energy_error`` (predicted minus
    reference, per atom) and ``force_rmse`` (over the force components; NaN without reference or predicted
    forces). ``energies``: predicted total energies; ``forces[s]``: predicted (N_s, 3)."""
    import pandas as pd

    rows = []
    for s, (st, e) in enumerate(zip(structures, energies)):
        if st.energy is None:
            continue
        f_rmse = np.nan
        if forces is not None and st.forces is not None:
            f_rmse = float(np.sqrt(np.mean((np.asarray(forces[s]) - st.forces) ** 2)))
        rows.append({"structure": s, "n_atoms": len(st), "energy_error": (float(e) - st.energy) / len(st),
                     "force_rmse": f_rmse})
    return pd.DataFrame(rows, columns=["structure", "n_atoms", "energy_error", "force_rmse"])


def read_states(path: str | Path, n_structures: int):
    """``states.csv`` beside a data file (``hdnnp generate``), or None if absent; one that cannot be read or
    does not have one row per structure (``structure`` 0, 1, ...) is not used, with a warning naming it."""
    import warnings

    import pandas as pd

    from .errors import InputWarning

    path = Path(path)
    if not path.is_file():
        return None
    try:
        states = pd.read_csv(path)
    except (OSError, ValueError) as exc:     # pandas' parser errors are ValueErrors
        warnings.warn(InputWarning(f"{path}: unreadable ({exc}); no errors per state point"), stacklevel=2)
        return None
    if "structure" not in states or len(states) != n_structures \
            or not np.array_equal(states["structure"].to_numpy(), np.arange(n_structures)):
        warnings.warn(InputWarning(f"{path}: not one row per structure of the data ({len(states)} rows, "
                                   f"{n_structures} structures, column 'structure' 0, 1, ...); "
                                   "no errors per state point"), stacklevel=2)
        return None
    return states


def sample_by_state(states, per_state: int) -> list[int]:
    """At most ``per_state`` structures of every state point (and kind of start), evenly spaced in its
    trajectory: the structure indices, sorted."""
    keys = [c for c in STATE_COLUMNS if c in states]
    picked = []
    for _, g in states.groupby(keys, dropna=False, sort=False):
        idx = g["structure"].to_numpy()
        take = np.unique(np.linspace(0, len(idx) - 1, min(per_state, len(idx))).round().astype(int))
        picked += idx[take].tolist()
    return sorted(picked)


def errors_by_state(errors, states):
    """Per state point (the :data:`STATE_COLUMNS` of ``states``; rattled copies apart from MD samples):
    ``n``, ``energy_bias`` (mean error per atom), ``energy_rmse`` (per atom), ``force_rmse`` (over every
    component of the group's structures)."""
    import pandas as pd

    keys = [c for c in STATE_COLUMNS if c in states]
    df = errors.merge(states[["structure", *keys]], on="structure", how="left")
    df["f2n"] = df["force_rmse"] ** 2 * df["n_atoms"]      # sum of squares / 3: groups weight by atoms
    rows = []
    for key, g in df.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        forces = g["force_rmse"].notna()
        f = float(np.sqrt(g.loc[forces, "f2n"].sum() / g.loc[forces, "n_atoms"].sum())) if forces.any() else np.nan
        rows.append({**dict(zip(keys, key)), "n": len(g), "energy_bias": float(g["energy_error"].mean()),
                     "energy_rmse": float(np.sqrt((g["energy_error"] ** 2).mean())), "force_rmse": f})
    return pd.DataFrame(rows, columns=[*keys, "n", "energy_bias", "energy_rmse", "force_rmse"])


def state_units(states) -> tuple[str, str, str]:
    """(energy per atom, force, temperature) units of a ``states.csv``'s system (its ``system`` column, a
    built-in system of :mod:`toolkit.lammps.systems`); generic names for another or none."""
    from .errors import ToolkitError
    from .lammps.systems import get_system

    try:
        s = get_system(str(states["system"].iloc[0]))
    except (KeyError, IndexError, ToolkitError):
        return "energy/atom", "energy/length", "temperature"
    return f"{s.energy_unit}/atom", f"{s.energy_unit}/{s.length_unit}", s.temperature_unit


def plot_errors_by_state(by_state, path: Path, units: tuple[str, str, str] = ("energy/atom", "energy/length", "K"),
                         title: str = "") -> Path | None:
    """Energy bias (+- RMSE) and force RMSE against temperature, one line per kind of start
    (liquid, crystal, rattled copies ...); ``units``: energy per atom, force, temperature
    (:func:`state_units`). None if the states have no temperature."""
    from .plotting import pyplot, save_figure

    if "temperature" not in by_state or by_state["temperature"].isna().all():
        return None
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    groups = by_state.groupby("start", dropna=False) if "start" in by_state else [("all", by_state)]
    for start, g in groups:
        g = g.sort_values("temperature")
        a.errorbar(g["temperature"], g["energy_bias"], yerr=g["energy_rmse"], marker="o", capsize=3, label=str(start))
        b.plot(g["temperature"], g["force_rmse"], marker="o", label=str(start))
    a.axhline(0.0, color="0.6", lw=0.8)
    a.set_xlabel(f"temperature ({units[2]})")
    a.set_ylabel(f"energy error, mean +- RMSE ({units[0]})")
    b.set_xlabel(f"temperature ({units[2]})")
    b.set_ylabel(f"force RMSE ({units[1]})")
    a.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
