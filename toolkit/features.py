"""Compute the symmetry functions of a data set once and keep them on disk (HDF5).

Layout of a feature file (``hdnnp symfuncs INPUT_NN DATA -o FEATURES.h5``)::

    attrs: format, elements (JSON), cutoff, provenance (JSON)
    /symfuncs/<El>            symfunction_short lines of El, n2p2's sorted order (= columns)
    /symfunc_cutoff/<El>      (F, 2) cutoff_type and cutoff alpha of each function
    /structures/n_atoms       (S,)   atoms per structure
    /structures/energy        (S,)   reference total energy (NaN if unknown), energy units
    /structures/atom_offset   (S,)   index of the structure's first atom
    /atoms/element            (N,)   element index (into attrs['elements'])
    /atoms/structure          (N,)   structure index
    /atoms/forces             (N, 3) reference forces (NaN if unknown), energy/length
    /features/<El>/values     (n_El, F_El) raw (unscaled) symmetry functions
    /features/<El>/atom       (n_El,) global atom index of each row
    /features/<El>/structure  (n_El,) structure index of each row
  with --derivatives, per element (pairs p = centre i, neighbour j, image):
    /derivatives/<El>/pair_row     (P,)  row of the centre atom in /features/<El>/values
    /derivatives/<El>/pair_atom    (P,)  global index of the neighbour atom j
    /derivatives/<El>/pair_vec     (P, 3) r_j + S - r_i, length units
    /derivatives/<El>/dG           (P, F, 3) dG_i/d(pair_vec): dG_i/dr_j sums these over
                                   j's images, and dG_i/dr_i = -sum over the pairs of i
    /derivatives/<El>/pair_offset  (S + 1,) pairs of structure s are [offset[s], offset[s+1])

Structures are processed in chunks, so memory stays bounded however large the
data set; the file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import torch

from .fileio import atomic_path
from .provenance import provenance
from .structures import Structure
from .symfuncs import SymmetryFunctionSet

FEATURES_FORMAT = "hdnnp-toolkit/features/1"


def _progress(total: int, description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=False)


def structure_chunks(structures: Sequence[Structure], chunk_atoms: int):
    """``(start, stop)`` index ranges of consecutive structures holding about ``chunk_atoms`` atoms."""
    start = 0
    while start < len(structures):
        stop, n = start, 0
        while stop < len(structures) and (n == 0 or n + len(structures[stop]) <= chunk_atoms):
            n += len(structures[stop])
            stop += 1
        yield start, stop
        start = stop


def _worker_compute(args):
    """Runs in a worker process: one thread each, so two workers use two cores without contention."""
    sfset, chunk, derivatives, min_distance, first = args
    torch.set_num_threads(1)
    feats = sfset.compute(chunk, derivatives=derivatives, min_distance=min_distance,
                          where=f"structure (from {first})")
    return feats


def default_workers() -> int:
    """Worker processes for feature computation: the number of usable cores (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def iter_feature_chunks(structures: Sequence[Structure], sfset: SymmetryFunctionSet, chunk_atoms: int = 4096,
                        derivatives: bool = False, dtype=torch.float64, device=None, min_distance: float | None = None,
                        workers: int = 1):
    """Yield ``(first_structure_index, structures_chunk, BatchFeatures)`` over chunks of about ``chunk_atoms`` atoms.

    ``workers`` > 1 computes chunks in that many single-threaded processes (CPU only);
    results still arrive in order. Many small tensor operations scale better over
    processes than over threads.
    """
    bounds = list(structure_chunks(structures, chunk_atoms))
    if workers > 1 and len(bounds) > 1 and (device is None or torch.device(device).type == "cpu") \
            and dtype == torch.float64:
        import concurrent.futures as cf
        import multiprocessing as mp

        jobs = ((sfset, structures[a:b], derivatives, min_distance, a) for a, b in bounds)
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for (a, b), feats in zip(bounds, pool.map(_worker_compute, jobs)):
                yield a, structures[a:b], feats
        return
    for a, b in bounds:
        chunk = structures[a:b]
        feats = sfset.compute(chunk, derivatives=derivatives, dtype=dtype, device=device,
                              min_distance=min_distance, where="structure")
        yield a, chunk, feats


def derivative_chunk_atoms(structures: Sequence[Structure], sfset: SymmetryFunctionSet, chunk_atoms: int = 4096,
                           budget_bytes: float = 5e8) -> int:
    """Atoms per chunk when derivatives are computed: the chunk's working memory stays near ``budget_bytes``.

    Per atom, dG holds n_pairs x F x 3 numbers, and the angular functions work on
    n_pairs^2 / 2 triplets x F_angular x 3 (with a few temporaries). The number of
    neighbours is measured on the first structure. Without this cap, dense systems
    with long angular cutoffs (LJ at rc = 2.8 sigma: ~80 neighbours, 3,300
    triplets per atom) thrash memory and the time grows faster than linearly.
    """
    from .symfuncs.neighbors import build_pairs

    if not structures:
        return chunk_atoms
    s = structures[0]
    n_ang = max((sum(sf.is_angular for sf in sfs) for sfs in sfset.by_element.values()), default=0)
    f_max = max(sfset.n_features.values())
    pairs = build_pairs(s.positions, s.cell, sfset.cutoff)  # one neighbour list for both counts
    nb_r = len(pairs) / max(len(s), 1)
    rc_ang = max((sf.rc for sfs in sfset.by_element.values() for sf in sfs if sf.is_angular), default=0.0)
    nb_a = float((pairs.dist < rc_ang).sum()) / max(len(s), 1) if n_ang else 0.0
    per_atom = 8.0 * 3 * (nb_r * f_max + 4 * 0.5 * nb_a * nb_a * n_ang)
    return max(1, min(chunk_atoms, int(budget_bytes / max(per_atom, 1.0))))


def write_feature_file(path: str | os.PathLike, structures: Sequence[Structure], sfset: SymmetryFunctionSet,
                       derivatives: bool = False, chunk_atoms: int = 4096, store_dtype: str = "float64",
                       min_distance: float | None = None, settings: dict | None = None,
                       show_progress: bool = True, workers: int | None = None) -> Path:
    """Compute and store the symmetry functions (and optionally derivatives) of ``structures``."""
    structures = list(structures)
    if derivatives:
        chunk_atoms = derivative_chunk_atoms(structures, sfset, chunk_atoms)
    elements = sfset.elements
    el_index = {e: i for i, e in enumerate(elements)}
    n_atoms = np.array([len(s) for s in structures], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]]) if len(structures) else np.zeros(0, np.int64)
    N = int(n_atoms.sum())
    sdt = np.dtype(store_dtype)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["format"] = FEATURES_FORMAT
        h5.attrs["elements"] = json.dumps(elements)
        h5.attrs["cutoff"] = sfset.cutoff
        h5.attrs["provenance"] = json.dumps(provenance(settings or {}), default=str)
        for e in elements:
            h5.create_dataset(f"symfuncs/{e}", data=np.array([sf.to_line() for sf in sfset.by_element[e]], dtype=object),
                              dtype=h5py.string_dtype())
            h5[f"symfunc_cutoff/{e}"] = np.array([[sf.cutoff_type, sf.cutoff_alpha] for sf in sfset.by_element[e]],
                                                 dtype=float).reshape(-1, 2)
        h5["structures/n_atoms"] = n_atoms
        h5["structures/energy"] = np.array([np.nan if s.energy is None else s.energy for s in structures])
        h5["structures/atom_offset"] = offsets
        h5["atoms/element"] = np.array([el_index[e] for s in structures for e in s.elements], dtype=np.int16)
        h5["atoms/structure"] = np.repeat(np.arange(len(structures)), n_atoms)
        forces = np.full((N, 3), np.nan)
        for s, o in zip(structures, offsets):
            if s.forces is not None:
                forces[o:o + len(s)] = s.forces
        h5["atoms/forces"] = forces
        n_el = {e: 0 for e in elements}
        for e in elements:
            F = len(sfset.by_element[e])
            g = h5.create_group(f"features/{e}")
            g.create_dataset("values", shape=(0, F), maxshape=(None, F), dtype=sdt, chunks=(max(1, min(4096, 2**20 // max(F, 1))), F))
            g.create_dataset("atom", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=True)
            g.create_dataset("structure", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=True)
            if derivatives:
                d = h5.create_group(f"derivatives/{e}")
                d.create_dataset("pair_row", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=True)
                d.create_dataset("pair_atom", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=True)
                d.create_dataset("pair_vec", shape=(0, 3), maxshape=(None, 3), dtype=np.float64, chunks=True)
                d.create_dataset("dG", shape=(0, F, 3), maxshape=(None, F, 3), dtype=sdt,
                                 chunks=(max(1, min(1024, 2**18 // max(3 * F, 1))), F, 3))
                d.create_dataset("pair_offset", data=np.zeros(len(structures) + 1, dtype=np.int64))
        n_pairs = {e: 0 for e in elements}

        def append(ds, arr):
            k = ds.shape[0]
            ds.resize(k + len(arr), axis=0)
            ds[k:] = arr

        progress = _progress(len(structures), "symmetry functions") if show_progress else None
        task = progress.add_task("sf", total=len(structures)) if progress else None
        if progress:
            progress.start()
        try:
            n_workers = default_workers() if workers is None else workers
            for first, chunk, feats in iter_feature_chunks(structures, sfset, chunk_atoms, derivatives,
                                                           min_distance=min_distance, workers=n_workers):
                base_atom = int(offsets[first])
                for e, f in feats.per_element.items():
                    g = h5[f"features/{e}"]
                    atoms = f.atoms.cpu().numpy()
                    append(g["values"], f.values.cpu().numpy().astype(sdt))
                    append(g["atom"], atoms + base_atom)
                    append(g["structure"], feats.structure_index[f.atoms].cpu().numpy() + first)
                    if derivatives:
                        d = h5[f"derivatives/{e}"]
                        rows = f.pair_row.cpu().numpy()
                        append(d["pair_row"], rows + n_el[e])
                        append(d["pair_atom"], f.pair_neighbor.cpu().numpy() + base_atom)
                        append(d["pair_vec"], f.pair_vec.cpu().numpy())
                        append(d["dG"], f.dG.cpu().numpy().astype(sdt))
                        s_of_pair = feats.structure_index[f.atoms[f.pair_row]].cpu().numpy() + first
                        counts = np.bincount(s_of_pair - first, minlength=len(chunk))
                        po = d["pair_offset"]
                        po[first + 1:first + len(chunk) + 1] = n_pairs[e] + np.cumsum(counts)
                        n_pairs[e] += int(counts.sum())
                    n_el[e] += len(atoms)
                if progress:
                    progress.update(task, advance=len(chunk))
        finally:
            if progress:
                progress.stop()
    return Path(path)


class FeatureFile:
    """Read access to a feature file; datasets are read lazily (h5py) or loaded with :meth:`load`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.h5 = h5py.File(self.path, "r")
        if self.h5.attrs.get("format") != FEATURES_FORMAT:
            raise ValueError(f"{self.path}: not a hdnnp-toolkit feature file")
        self.elements: list[str] = json.loads(self.h5.attrs["elements"])

    def close(self):
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def n_structures(self) -> int:
        return int(self.h5["structures/n_atoms"].shape[0])

    def symfunc_lines(self, element: str) -> list[str]:
        return [x.decode() if isinstance(x, bytes) else x for x in self.h5[f"symfuncs/{element}"][()]]

    def symfuncs(self, element: str):
        from .symfuncs import parse_symfunction

        cut = self.h5[f"symfunc_cutoff/{element}"][()]
        return [parse_symfunction(l, int(c[0]), float(c[1])) for l, c in zip(self.symfunc_lines(element), cut)]

    def values(self, element: str) -> h5py.Dataset:
        return self.h5[f"features/{element}/values"]

    def load(self, element: str) -> dict[str, np.ndarray]:
        """Everything about one element in memory: values, atom, structure."""
        g = self.h5[f"features/{element}"]
        return {k: g[k][()] for k in ("values", "atom", "structure")}

    @property
    def has_derivatives(self) -> bool:
        return "derivatives" in self.h5

    def energies(self) -> np.ndarray:
        return self.h5["structures/energy"][()]

    def n_atoms(self) -> np.ndarray:
        return self.h5["structures/n_atoms"][()]
