"""Predict energies and forces of structures with a potential and write them as CSV."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .features import structure_chunks
from .fileio import atomic_write, write_json
from .potential import load_potential
from .provenance import provenance
from .structures import read_structures


def predict_files(potential: str | os.PathLike, data: str | os.PathLike, out_dir: str | os.PathLike,
                  forces: bool = True, batch_atoms: int = 4096, show_progress: bool = True) -> dict[str, Path]:
    """Write ``OUT/energies.csv`` (structure,n_atoms,energy) and ``OUT/forces.csv`` (structure,atom,fx,fy,fz).

    Structures and atoms are numbered from 0 in file order; physical units of the data.
    """
    model = load_potential(potential)
    structures = read_structures(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    e_rows, f_frames = [], []
    from rich.progress import Progress

    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("predicting", total=len(structures))
        for start, stop in structure_chunks(structures, batch_atoms):
            batch = structures[start:stop]
            E, _, F, _, s_index = model.predict_batch(batch, forces=forces)
            offset = 0
            for k, s in enumerate(batch):
                e_rows.append({"structure": start + k, "n_atoms": len(s), "energy": float(E[k])})
                if forces:
                    f = F[offset:offset + len(s)].cpu().numpy()
                    f_frames.append(pd.DataFrame({"structure": start + k, "atom": range(len(s)),
                                                  "fx": f[:, 0], "fy": f[:, 1], "fz": f[:, 2]}))
                offset += len(s)
            progress.update(task, advance=len(batch))
    paths = {"energies": out / "energies.csv"}
    with atomic_write(paths["energies"]) as fh:
        pd.DataFrame(e_rows, columns=["structure", "n_atoms", "energy"]).to_csv(fh, index=False, float_format="%.17g")
    if forces:
        paths["forces"] = out / "forces.csv"
        with atomic_write(paths["forces"]) as fh:
            pd.concat(f_frames).to_csv(fh, index=False, float_format="%.17g")
    write_json(out / "predict.json", provenance({"potential": str(potential), "data": str(data)}))
    return paths
