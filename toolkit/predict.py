"""Predict energies and forces of structures with a potential and write them as CSV.

Before anything is computed the data are checked against the potential (every
element described, no two atoms closer than ``min_distance``). While predicting,
atoms whose symmetry functions lie outside the ``scaling.data`` range of the
potential (extrapolation) are counted per structure, as the LAMMPS plugin does.
Non-finite results are an error: nothing is written then.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .errors import InputWarning, StructureError
from .fileio import atomic_write, write_json
from .structures import DEFAULT_MIN_DISTANCE, check_elements, check_min_distance, read_structures

# torch, pandas and the potential are imported where used: the command checks its
# arguments before paying for them.

#: Output files of :func:`predict_files` (the command refuses to replace them without --force).
OUTPUTS = ("energies.csv", "forces.csv", "extrapolation.csv", "predict.json", "errors.csv", "errors_by_state.csv",
           "errors_by_state.png")

#: As n2p2 and the LAMMPS plugin: no "fake" extrapolation warnings at the range boundaries.
EW_EPS = 1000.0 * np.finfo(float).eps

EXTRAPOLATION_COLUMNS = ["structure", "atoms_outside", "element", "function", "value", "min", "max"]


def find_extrapolation(model, features, first: int = 0) -> list[dict]:
    """Per structure with extrapolation: how many atoms have a symmetry function outside the
    ``scaling.data`` range, and the worst function (largest excess relative to its range).

    ``function`` is 1-based in n2p2's sorted order (the row of ``scaling.data``);
    ``structure`` is ``first`` + the index in the batch.
    """
    import torch
    counts = torch.zeros(features.n_structures, dtype=torch.long)
    worst: dict[int, tuple] = {}
    for e, f in features.per_element.items():
        st = model.scaling_stats(e).detach().cpu().to(torch.float64)
        gmin, gmax = st[:, 0], st[:, 1]
        if not bool((gmin != 0).any() or (gmax != 0).any()):  # no scaling data
            continue
        G = f.values.detach().cpu().to(torch.float64)
        width = torch.clamp(gmax - gmin, min=EW_EPS)
        excess = torch.maximum(gmin - G, G - gmax) / width  # > 0 outside the range
        outside = (G + EW_EPS < gmin) | (G - EW_EPS > gmax)
        atom_out = outside.any(dim=1)
        if not bool(atom_out.any()):
            continue
        s_of_row = features.structure_index[f.atoms].cpu()
        counts.index_add_(0, s_of_row[atom_out], torch.ones(int(atom_out.sum()), dtype=torch.long))
        ex = torch.where(outside, excess, torch.full_like(excess, -np.inf))
        row_best, col_best = ex.max(dim=1)
        for r in torch.nonzero(atom_out).squeeze(1).tolist():
            s = int(s_of_row[r])
            if s not in worst or float(row_best[r]) > worst[s][0]:
                c = int(col_best[r])
                worst[s] = (float(row_best[r]), e, c + 1, float(G[r, c]), float(gmin[c]), float(gmax[c]))
    return [{"structure": first + s, "atoms_outside": int(counts[s]), "element": w[1], "function": w[2],
             "value": w[3], "min": w[4], "max": w[5]} for s, w in sorted(worst.items())]


def extrapolation_message(rec: dict) -> str:
    """One line about one structure's extrapolation, LAMMPS-plugin style."""
    return (f"structure {rec['structure']}: {rec['atoms_outside']} atom(s) outside the scaling.data range; "
            f"worst: {rec['element']} function {rec['function']} = {rec['value']:.6g} "
            f"(range {rec['min']:.6g} .. {rec['max']:.6g})")


def predict_structures(model, structures, forces: bool = True, batch_atoms: int = 4096, show_progress: bool = False,
                       source="data"):
    """Predicted total energies (list), forces (list of (N_s, 3) arrays, or None) and the extrapolation records
    (:func:`find_extrapolation`) of ``structures``, in chunks of about ``batch_atoms`` atoms; units of the
    potential. Non-finite results raise :class:`StructureError` naming ``source`` and the structure."""
    from rich.progress import Progress

    from .features import structure_chunks
    p = next(model.parameters())
    energies, f_arrays, ew = [], [], []
    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("predicting", total=len(structures))
        for start, stop in structure_chunks(structures, batch_atoms):
            batch = structures[start:stop]
            feats = model.sfset.compute(batch, derivatives=False, dtype=p.dtype, device=p.device)
            ew += find_extrapolation(model, feats, first=start)
            E, _, F, _, _ = model.predict_batch(batch, forces=forces, features=feats)
            offset = 0
            for k, s in enumerate(batch):
                f = F[offset:offset + len(s)].detach().cpu().numpy() if forces else None
                if not np.isfinite(float(E[k])) or (f is not None and not np.all(np.isfinite(f))):
                    raise StructureError(f"{source}: structure {start + k}: the predicted "
                                         f"{'energy' if not np.isfinite(float(E[k])) else 'forces'} are not "
                                         "finite (NaN/inf); nothing was written")
                energies.append(float(E[k]))
                if forces:
                    f_arrays.append(f)
                offset += len(s)
            progress.update(task, advance=len(batch))
    return energies, (f_arrays if forces else None), ew


def predict_files(potential: str | os.PathLike, data: str | os.PathLike, out_dir: str | os.PathLike,
                  forces: bool = True, batch_atoms: int = 4096, show_progress: bool = True,
                  min_distance: float | None = DEFAULT_MIN_DISTANCE, report_lines: int = 10) -> dict[str, Path]:
    """Write ``OUT/energies.csv`` (structure,n_atoms,energy), ``OUT/forces.csv`` (structure,atom,fx,fy,fz)
    and ``OUT/extrapolation.csv`` (structures with atoms outside the scaling range).

    Where the data have reference energies (and forces) also ``OUT/errors.csv`` (per structure: energy
    error per atom, force RMSE); with the ``states.csv`` of ``hdnnp generate`` beside the data, the same per
    state point, ``OUT/errors_by_state.csv`` and ``.png`` (:mod:`toolkit.prediction_errors`).

    Structures and atoms are numbered from 0 in file order; physical units of the data.
    ``min_distance`` (length units; ``None``/0: off): refuse structures with atoms closer than this.
    Extrapolating structures are also reported as warnings (the first ``report_lines``).
    """
    import pandas as pd

    from .potential import load_potential
    from .provenance import provenance
    structures = read_structures(data)
    model = load_potential(potential)
    check_elements(structures, model.elements, source=data, potential=f"the potential {potential}")
    check_min_distance(structures, min_distance, source=data)
    energies, f_arrays, ew = predict_structures(model, structures, forces=forces, batch_atoms=batch_atoms,
                                                show_progress=show_progress, source=data)
    e_rows = [{"structure": k, "n_atoms": len(s), "energy": e} for k, (s, e) in enumerate(zip(structures, energies))]
    f_frames = [pd.DataFrame({"structure": k, "atom": range(len(f)), "fx": f[:, 0], "fy": f[:, 1], "fz": f[:, 2]})
                for k, f in enumerate(f_arrays or [])]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"energies": out / "energies.csv"}
    with atomic_write(paths["energies"]) as fh:
        pd.DataFrame(e_rows, columns=["structure", "n_atoms", "energy"]).to_csv(fh, index=False, float_format="%.17g")
    if forces:
        paths["forces"] = out / "forces.csv"
        with atomic_write(paths["forces"]) as fh:
            pd.concat(f_frames).to_csv(fh, index=False, float_format="%.17g")
    paths["extrapolation"] = out / "extrapolation.csv"
    with atomic_write(paths["extrapolation"]) as fh:
        pd.DataFrame(ew, columns=EXTRAPOLATION_COLUMNS).to_csv(fh, index=False, float_format="%.17g")
    summary = _write_errors(structures, energies, f_arrays, data, out, paths)
    write_json(out / "predict.json", provenance({"potential": str(potential), "data": str(data),
                                                 "min_distance": min_distance,
                                                 "extrapolating_structures": len(ew), "errors": summary}))
    if ew:
        for rec in ew[:report_lines]:
            warnings.warn(InputWarning(extrapolation_message(rec)), stacklevel=2)
        n_atoms = sum(r["atoms_outside"] for r in ew)
        more = f" ({len(ew) - report_lines} more)" if len(ew) > report_lines else ""
        warnings.warn(InputWarning(f"extrapolation in {len(ew)} of {len(structures)} structures{more}, "
                                   f"{n_atoms} atoms in all: the potential was not trained on such environments; "
                                   f"see {paths['extrapolation']}"), stacklevel=2)
    return paths


def _write_errors(structures, energies, forces, data, out: Path, paths: dict) -> dict | None:
    """errors.csv (and errors_by_state.csv/.png with a states.csv beside the data); the overall RMSEs."""
    from .prediction_errors import errors_by_state, plot_errors_by_state, read_states, state_units, structure_errors

    errors = structure_errors(structures, energies, forces)
    if errors.empty:
        return None
    paths["errors"] = out / "errors.csv"
    with atomic_write(paths["errors"]) as fh:
        errors.to_csv(fh, index=False, float_format="%.10g")
    f = errors.dropna(subset=["force_rmse"])
    summary = {"structures": len(errors), "energy_rmse": float(np.sqrt((errors["energy_error"] ** 2).mean())),
               "force_rmse": (float(np.sqrt((f["force_rmse"] ** 2 * f["n_atoms"]).sum() / f["n_atoms"].sum()))
                              if len(f) else None)}
    states = read_states(Path(data).with_name("states.csv"), len(structures))
    if states is not None:
        by_state = errors_by_state(errors, states)
        paths["errors_by_state"] = out / "errors_by_state.csv"
        with atomic_write(paths["errors_by_state"]) as fh:
            by_state.to_csv(fh, index=False, float_format="%.10g")
        png = plot_errors_by_state(by_state, out / "errors_by_state.png", units=state_units(states),
                                   title=f"errors per state point: {data}")
        if png is not None:
            paths["errors_by_state_plot"] = png
    return summary
