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
  with --derivatives (pairs p = centre i, neighbour j, image; see "Derivative layout"):
    /derivatives/force_atoms       (M,)  global indices of the force atoms, sorted (all atoms unless sampled)
    /derivatives/force_offset      (S + 1,) force atoms of structure s are [offset[s], offset[s+1])
    /derivatives/<El>/pair_row     (P,)  row of the centre atom i in /features/<El>/values
    /derivatives/<El>/pair_atom    (P,)  global index of the neighbour atom j (a force atom)
    /derivatives/<El>/pair_vec     (P, 3) d_p = r_j + S - r_i, length units
    /derivatives/<El>/pair_offset  (S + 1,) pairs of structure s are [offset[s], offset[s+1])
    /derivatives/<El>/radial_columns  (F_r,) columns of the radial functions
    /derivatives/<El>/angular_columns (F_a,) columns of the angular functions
    /derivatives/<El>/dG_radial    (P, F_r) s with dG_i/d(d_p) = s * d_p (radial: parallel to the pair)
    /derivatives/<El>/angular_pair (P_a,) pairs closer than the element's largest angular cutoff
    /derivatives/<El>/dG_angular   (P_a, F_a, 3) dG_i/d(d_p) of the angular functions
    /derivatives/<El>/angular_offset (S + 1,) angular pairs of structure s
    /derivatives/<El>/self_row     (M_El,) row of each force atom k of El
    /derivatives/<El>/self_dG      (M_El, F, 3) S_k = sum over the pairs p of centre k of dG_k/d(d_p)
    /derivatives/<El>/self_offset  (S + 1,) force atoms of El in structure s

Derivative layout: dG_i/dr_j sums dG_i/d(d_p) over j's images, and dG_i/dr_i
= -sum over the pairs of i (translation invariance). A radial function's pair
derivative is a scalar times the pair vector, so it is stored as that scalar
(one number instead of three); angular derivatives vanish beyond the angular
cutoff, so they are stored only for the pairs inside it. With sampled force
atoms (``force_atoms``: a number or fraction of the atoms of each structure,
seeded per structure), only what the sampled atoms' forces need is stored:
F_k = -sum_i dE/dG_i . dG_i/dr_k, with dG_i/dr_k (i != k) from the pairs whose
neighbour is k and dG_k/dr_k = -S_k from one summed block per force atom
(instead of all of k's own pairs). Without sampling every atom is a force atom.

Structures are processed in chunks, so memory stays bounded however large the
data set; the file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import torch

from .errors import StructureError
from .fileio import atomic_path
from .provenance import provenance
from .structures import Structure
from .symfuncs import SymmetryFunctionSet
from .symfuncs.threads import one_thread
from .training.memory import tensor_bytes

FEATURES_FORMAT = "hdnnp-toolkit/features/2"
#: older files: values readable, derivatives in the old (P, F, 3) layout are not
READABLE_FORMATS = ("hdnnp-toolkit/features/1", FEATURES_FORMAT)


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


def _chunk_force_mask(chunk: Sequence[Structure], local_force: Sequence[np.ndarray] | None):
    """(atoms of the chunk,) bool: the force atoms (None: every atom)."""
    if local_force is None:
        return None
    mask = torch.zeros(sum(len(s) for s in chunk), dtype=torch.bool)
    o = 0
    for s, l in zip(chunk, local_force):
        mask[o + torch.as_tensor(l, dtype=torch.long)] = True
        o += len(s)
    return mask


def _die_with_parent(parent_pid: int) -> None:
    """Worker-process initialiser: exit when the parent dies, however it dies; leave Ctrl-C to the parent.

    On Linux the kernel sends SIGKILL when the parent exits (PR_SET_PDEATHSIG);
    everywhere a daemon thread polls the parent pid (the fallback, and a guard
    against a parent that died before the prctl call).
    """
    import signal
    import sys
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers on Ctrl-C
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def _compute_chunk(sfset, chunk, derivatives, min_distance, first, local_force, dtype=torch.float64, device=None):
    """One chunk of structures (``first``: index of its first structure), on one thread (:func:`one_thread`)."""
    with one_thread():
        return sfset.compute(chunk, derivatives=derivatives, dtype=dtype, device=device, min_distance=min_distance,
                             where=f"structure (from {first})", force_mask=_chunk_force_mask(chunk, local_force))


def _worker_compute(args):
    """Runs in a helper process: one thread each, so the processes use the cores without contention."""
    return _compute_chunk(*args)


def default_workers() -> int:
    """Computing processes for features at most: the number of usable cores (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        n = os.cpu_count() or 1
    return max(1, min(8, n))


#: Seconds a helper process needs before it computes (starting Python, importing torch): measured 1-1.5 s.
HELPER_START_SECONDS = 1.5
#: A helper is started only if the remaining work is at least this many times its start-up.
HELPER_WORTH = 3.0


def helper_count(workers: int | None, seconds_left: float) -> int:
    """Helper processes beside this one for ``seconds_left`` of remaining one-process work.

    ``workers`` (computing processes including this one) fixes the count; None
    chooses it from the work: one helper per ``HELPER_WORTH`` start-ups of
    remaining work, at most :func:`default_workers` - 1 and at most the cores
    other jobs leave idle (1-minute load average): on a busy machine a helper
    only competes for a core and adds its start-up (measured: at load 7-9 on 2
    cores a second process cost 40 % more CPU for the same wall time). A small
    job stays in this process, where it costs no start-up at all.
    """
    if workers is not None:
        return max(0, int(workers) - 1)
    cores = default_workers()
    try:
        idle = int(cores - os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        idle = cores
    return max(0, min(cores - 1, idle, int(seconds_left // (HELPER_WORTH * HELPER_START_SECONDS))))


def iter_feature_chunks(structures: Sequence[Structure], sfset: SymmetryFunctionSet, chunk_atoms: int = 4096,
                        derivatives: bool | str = False, dtype=torch.float64, device=None,
                        min_distance: float | None = None, workers: int | None = 1,
                        local_force: Sequence[np.ndarray] | None = None):
    """Yield ``(first_structure_index, structures_chunk, BatchFeatures)`` over chunks of about ``chunk_atoms`` atoms.

    ``derivatives``: as :meth:`SymmetryFunctionSet.compute`; with ``"compact"``,
    ``local_force[s]`` are the force atoms of structure s (None: all).

    Chunks are computed on one thread each. ``workers``: computing processes,
    this one included (CPU, float64 only); None chooses them from the work
    (:func:`helper_count`, timed on the first chunk). Helpers are single-threaded
    spawned processes; this process keeps computing while they start and run,
    and the results still arrive in order.
    """
    bounds = list(structure_chunks(structures, chunk_atoms))

    def job(k):
        a, b = bounds[k]
        return (sfset, structures[a:b], derivatives, min_distance, a, None if local_force is None else local_force[a:b])

    def here(k):
        return _compute_chunk(*job(k), dtype=dtype, device=device)

    helpers_possible = (workers is None or workers > 1) and len(bounds) > 1 and dtype == torch.float64 \
        and (device is None or torch.device(device).type == "cpu")
    k = 0
    if helpers_possible:
        t0 = time.perf_counter()
        first = here(0)
        per_chunk = time.perf_counter() - t0
        yield bounds[0][0], structures[slice(*bounds[0])], first
        k = 1
        helpers = helper_count(workers, per_chunk * (len(bounds) - 1))
        if helpers:
            for i, feats in _with_helpers(len(bounds), 1, here, job, helpers):
                yield bounds[i][0], structures[slice(*bounds[i])], feats
            return
    for i in range(k, len(bounds)):
        yield bounds[i][0], structures[slice(*bounds[i])], here(i)


def _with_helpers(n: int, start: int, here, job, helpers: int, hold_bytes: float = 2.5e8):
    """Yield ``(k, features)`` for chunks ``start..n-1`` in order, computed by ``helpers`` processes and this one.

    Two chunks per helper are in flight; whenever the next chunk in order is not
    ready, this process computes the next unassigned one itself (also while the
    helpers start) and holds it until its turn. Held chunks are bounded by
    ``hold_bytes`` (at least one), so memory stays bounded.
    """
    import collections
    import concurrent.futures as cf
    import multiprocessing as mp

    pool = cf.ProcessPoolExecutor(max_workers=helpers, mp_context=mp.get_context("spawn"),
                                  initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        pending: collections.deque = collections.deque()   # (k, future) in order
        held: dict[int, object] = {}
        max_held, nxt, out = 1, start, start
        while out < n:
            while len(pending) < 2 * helpers and nxt < n:
                pending.append((nxt, _submit_ignoring_sigint(pool, job(nxt))))
                nxt += 1
            if out in held:
                yield out, held.pop(out)
                out += 1
            elif pending and pending[0][0] == out and (pending[0][1].done() or nxt >= n or len(held) >= max_held):
                yield out, pending.popleft()[1].result()
                out += 1
            else:
                held[nxt] = here(nxt)
                max_held = max(1, int(hold_bytes // max(tensor_bytes(held[nxt]), 1)))
                nxt += 1
    except BaseException:  # error, Ctrl-C, SIGTERM, consumer gone: stop the helpers now, not after their chunk
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        # the tracker is left to exit with this process: stopping it while the killed helpers' semaphores
        # are still being unregistered races inside multiprocessing (a KeyError traceback on stderr)
        raise
    pool.shutdown(wait=True)
    _stop_resource_tracker()


def _submit_ignoring_sigint(pool, args):
    """``pool.submit(_worker_compute, args)``, with a helper it starts born deaf to SIGINT.

    A spawned helper ignores SIGINT only after importing torch; a Ctrl-C to the
    process group before that would print its traceback. A blocked signal stays
    blocked across fork and exec, so SIGINT is blocked while a submit may start a
    helper and then unblocked: a Ctrl-C that came meanwhile is delivered to this
    process then, not lost.
    """
    import signal

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(_worker_compute, args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _stop_resource_tracker() -> None:
    """Stop multiprocessing's resource tracker once the helpers are gone.

    Spawned pools start it; left alone it outlives this process by a moment, a
    process left behind in the command's process group. It holds nothing once
    the pool is shut down, and a later pool starts a new one.
    """
    from multiprocessing import resource_tracker

    stop = getattr(getattr(resource_tracker, "_resource_tracker", None), "_stop", None)
    if stop is not None:
        try:
            stop()
        except (OSError, ChildProcessError):  # pragma: no cover - already gone
            pass


def derivative_chunk_atoms(structures: Sequence[Structure], sfset: SymmetryFunctionSet, chunk_atoms: int = 4096,
                           budget_bytes: float = 5e8, force_fraction: float = 1.0) -> int:
    """Atoms per chunk when derivatives are computed: the chunk's working memory stays near ``budget_bytes``.

    Per atom, dG holds n_pairs x F x 3 numbers, and the angular functions work on
    n_pairs^2 / 2 triplets x F_angular x 3 (with a few temporaries). The number of
    neighbours is measured on the first structure. Without this cap, dense systems
    with long angular cutoffs (LJ at rc = 2.8 sigma: ~80 neighbours, 3,300
    triplets per atom) thrash memory and the time grows faster than linearly.
    With a fraction ``force_fraction`` of the atoms as force atoms, about 2-3 times
    that fraction of the pairs and triplets is computed, and chunks grow accordingly
    (fewer, larger writes).
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
    per_atom = 8.0 * 3 * (nb_r * f_max + 4 * 0.5 * nb_a * nb_a * n_ang) * min(1.0, 3.0 * force_fraction)
    return max(1, min(chunk_atoms, int(budget_bytes / max(per_atom, 1.0))))


def sample_force_atoms(n_atoms: Sequence[int], force_atoms: int | float | None, seed: int = 0) -> list[np.ndarray]:
    """Per structure, the sorted local indices of its force atoms.

    ``force_atoms``: None (every atom), a number of atoms (int >= 1) or a
    fraction (0 < float < 1, rounded up) per structure. Structure s draws from
    ``default_rng([seed, s])``, so the choice does not depend on chunking.
    """
    out = []
    for s_i, n in enumerate(n_atoms):
        n = int(n)
        if force_atoms is None:
            k = n
        elif isinstance(force_atoms, float) and force_atoms < 1.0:
            k = int(math.ceil(force_atoms * n))
        else:
            k = int(force_atoms)
        if k >= n:
            out.append(np.arange(n))
        else:
            out.append(np.sort(np.random.default_rng([seed, s_i]).choice(n, size=k, replace=False)))
    return out


def check_force_atoms(value) -> None:
    """Raise ValueError unless ``value`` is None, an int >= 1 or a fraction in (0, 1]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"force_atoms must be a number of atoms or a fraction, got {value!r}")
    if isinstance(value, float) and not 0.0 < value <= 1.0:
        raise ValueError(f"force_atoms as a fraction must be in (0, 1], got {value!r}")
    if isinstance(value, int) and value < 1:
        raise ValueError(f"force_atoms must be at least 1, got {value!r}")


def _create_derivative_datasets(h5, e: str, sfs, n_structures: int, sdt) -> None:
    radial = np.array([c for c, sf in enumerate(sfs) if sf.is_radial], dtype=np.int64)
    angular = np.array([c for c, sf in enumerate(sfs) if not sf.is_radial], dtype=np.int64)
    d = h5.create_group(f"derivatives/{e}")
    d["radial_columns"], d["angular_columns"] = radial, angular
    for name in ("pair_row", "pair_atom", "angular_pair"):
        d.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(1 << 16,))
    d.create_dataset("pair_vec", shape=(0, 3), maxshape=(None, 3), dtype=np.float64, chunks=(1 << 14, 3))
    Fr, Fa = len(radial), len(angular)
    d.create_dataset("dG_radial", shape=(0, Fr), maxshape=(None, Fr), dtype=sdt,
                     chunks=(max(1, min(4096, 2**18 // max(Fr, 1))), max(Fr, 1)) if Fr else None)
    d.create_dataset("dG_angular", shape=(0, Fa, 3), maxshape=(None, Fa, 3), dtype=sdt,
                     chunks=(max(1, min(1024, 2**18 // max(3 * Fa, 1))), max(Fa, 1), 3) if Fa else None)
    d.create_dataset("pair_offset", data=np.zeros(n_structures + 1, dtype=np.int64))
    d.create_dataset("angular_offset", data=np.zeros(n_structures + 1, dtype=np.int64))
    F = len(sfs)
    d.create_dataset("self_row", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(1 << 14,))
    d.create_dataset("self_dG", shape=(0, F, 3), maxshape=(None, F, 3), dtype=sdt,
                     chunks=(max(1, min(256, 2**18 // max(3 * F, 1))), max(F, 1), 3) if F else None)
    d.create_dataset("self_offset", data=np.zeros(n_structures + 1, dtype=np.int64))


def _append(ds, arr) -> None:
    k = ds.shape[0]
    ds.resize(k + len(arr), axis=0)
    ds[k:] = arr


def _write_chunk_derivatives(d, f, s_of_atom: np.ndarray, first: int, n_chunk: int,
                             row_base: int, atom_base: int, counters: dict, sdt) -> None:
    """Append one element's derivatives of a chunk of structures (``counters``: pairs, angular pairs so far)."""
    c = f.compact
    keep, s, ang_pair, dA = c.pairs.numpy(), c.radial.numpy(), c.angular_pair.numpy(), c.angular.numpy()
    rows = f.pair_row.numpy()[keep]
    _append(d["pair_row"], rows + row_base)
    _append(d["pair_atom"], f.pair_neighbor.numpy()[keep] + atom_base)
    _append(d["pair_vec"], f.pair_vec.numpy()[keep])
    _append(d["dG_radial"], s.astype(sdt))
    _append(d["angular_pair"], ang_pair + counters["pairs"])
    _append(d["dG_angular"], dA.astype(sdt))
    self_rows = c.self_rows.numpy()
    _append(d["self_row"], self_rows + row_base)
    _append(d["self_dG"], c.self_block.numpy().astype(sdt))
    s_of_pair = s_of_atom[f.atoms.numpy()[rows]]
    for key, which, n in (("pair_offset", s_of_pair, "pairs"), ("angular_offset", s_of_pair[ang_pair], "angular"),
                          ("self_offset", s_of_atom[f.atoms.numpy()[self_rows]], "self")):
        counts = np.bincount(which, minlength=n_chunk)
        d[key][first + 1:first + n_chunk + 1] = counters[n] + np.cumsum(counts)
        counters[n] += int(counts.sum())


def write_feature_file(path: str | os.PathLike, structures: Sequence[Structure], sfset: SymmetryFunctionSet,
                       derivatives: bool = False, chunk_atoms: int = 4096, store_dtype: str = "float64",
                       min_distance: float | None = None, settings: dict | None = None,
                       show_progress: bool = True, workers: int | None = None,
                       force_atoms: int | float | None = None, force_seed: int = 0) -> Path:
    """Compute and store the symmetry functions (and optionally derivatives) of ``structures``.

    ``force_atoms`` (with ``derivatives``): store derivatives only for the
    forces of this many (int) or this fraction (float < 1) of the atoms of each
    structure, drawn with ``force_seed`` (:func:`sample_force_atoms`).
    """
    check_force_atoms(force_atoms)
    structures = list(structures)
    elements = sfset.elements
    el_index = {e: i for i, e in enumerate(elements)}
    n_atoms = np.array([len(s) for s in structures], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]]) if len(structures) else np.zeros(0, np.int64)
    N = int(n_atoms.sum())
    sdt = np.dtype(store_dtype)
    local_force = sample_force_atoms(n_atoms, force_atoms, force_seed) if derivatives else None
    if derivatives:
        chunk_atoms = derivative_chunk_atoms(structures, sfset, chunk_atoms,
                                             force_fraction=sum(len(l) for l in local_force) / max(N, 1))
    with atomic_path(path, guard=True) as tmp, h5py.File(tmp, "w") as h5:
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
        if derivatives:
            h5["derivatives/force_atoms"] = (np.concatenate([o + l for o, l in zip(offsets, local_force)])
                                             if structures else np.zeros(0, np.int64)).astype(np.int64)
            h5["derivatives/force_offset"] = np.concatenate([[0], np.cumsum([len(l) for l in local_force])])
            h5["derivatives"].attrs["force_atoms"] = json.dumps(force_atoms)
            h5["derivatives"].attrs["force_seed"] = force_seed
        n_el = {e: 0 for e in elements}
        for e in elements:
            F = len(sfset.by_element[e])
            g = h5.create_group(f"features/{e}")
            g.create_dataset("values", shape=(0, F), maxshape=(None, F), dtype=sdt, chunks=(max(1, min(4096, 2**20 // max(F, 1))), F))
            g.create_dataset("atom", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=True)
            g.create_dataset("structure", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=True)
            if derivatives:
                _create_derivative_datasets(h5, e, sfset.by_element[e], len(structures), sdt)
        counters = {e: {"pairs": 0, "angular": 0, "self": 0} for e in elements}

        progress = _progress(len(structures), "symmetry functions") if show_progress else None
        task = progress.add_task("sf", total=len(structures)) if progress else None
        if progress:
            progress.start()
        try:
            for first, chunk, feats in iter_feature_chunks(
                    structures, sfset, chunk_atoms, "compact" if derivatives else False, min_distance=min_distance,
                    workers=workers, local_force=local_force if force_atoms is not None else None):
                base_atom = int(offsets[first])
                s_local = feats.structure_index.cpu().numpy()
                for e, f in feats.per_element.items():
                    g = h5[f"features/{e}"]
                    atoms = f.atoms.cpu().numpy()
                    vals = f.values.cpu().numpy()
                    if not np.all(np.isfinite(vals)):  # never store NaN/inf
                        row = int(np.argwhere(~np.isfinite(vals))[0][0])
                        s_bad = int(s_local[atoms[row]]) + first
                        raise StructureError(f"structure {s_bad}: symmetry function of atom "
                                             f"{int(atoms[row]) + base_atom - int(offsets[s_bad])} ({e}) is not finite")
                    _append(g["values"], vals.astype(sdt))
                    _append(g["atom"], atoms + base_atom)
                    _append(g["structure"], s_local[atoms] + first)
                    if derivatives:
                        _write_chunk_derivatives(h5[f"derivatives/{e}"], f, s_local, first, len(chunk), n_el[e],
                                                 base_atom, counters[e], sdt)
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
        if self.h5.attrs.get("format") not in READABLE_FORMATS:
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

    @property
    def old_derivative_layout(self) -> bool:
        """Derivatives written by format 1 (one (P, F, 3) block): not readable for training any more."""
        return self.has_derivatives and "force_atoms" not in self.h5["derivatives"]

    def energies(self) -> np.ndarray:
        return self.h5["structures/energy"][()]

    def n_atoms(self) -> np.ndarray:
        return self.h5["structures/n_atoms"][()]
