"""Neighbour (pair) lists for periodic cells of any shape and for isolated structures.

Every pair (i, j, image) with |r_j + S - r_i| < r_cut is listed once per
direction (i sees j and j sees i). Cells smaller than twice the cutoff are
handled by enumerating as many periodic images as the cell's plane spacings
require, so an atom can be its own neighbour through an image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import StructureError

# Brute force (all pairs x all images) below this many distance evaluations;
# above it, a cell list keeps memory and time linear in the number of atoms.
_BRUTE_FORCE_LIMIT = 4_000_000


@dataclass
class PairList:
    """Pairs of one structure or of a batch (atom indices are global in the batch).

    ``center[p]``, ``neighbor[p]``: atom indices; ``vec[p] = r_neighbor + S - r_center``
    (length units); ``dist[p] = |vec[p]|``.
    """

    center: torch.Tensor
    neighbor: torch.Tensor
    vec: torch.Tensor
    dist: torch.Tensor

    def __len__(self) -> int:
        return int(self.center.numel())

    def select(self, mask: torch.Tensor) -> "PairList":
        return PairList(self.center[mask], self.neighbor[mask], self.vec[mask], self.dist[mask])

    @staticmethod
    def concatenate(parts: list["PairList"], offsets: list[int]) -> "PairList":
        return PairList(
            torch.cat([p.center + o for p, o in zip(parts, offsets)]),
            torch.cat([p.neighbor + o for p, o in zip(parts, offsets)]),
            torch.cat([p.vec for p in parts]),
            torch.cat([p.dist for p in parts]),
        )


def image_shifts(cell: np.ndarray, cutoff: float) -> np.ndarray:
    """Integer image vectors (n, 3) needed to find all neighbours within ``cutoff``."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    reps = []
    for k in range(3):
        a, b = cell[(k + 1) % 3], cell[(k + 2) % 3]
        height = volume / np.linalg.norm(np.cross(a, b))  # plane spacing along lattice vector k
        reps.append(int(math.ceil(cutoff / height)))
    rng = [np.arange(-n, n + 1) for n in reps]
    return np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)


def _brute_force(pos: torch.Tensor, shifts: torch.Tensor, cutoff: float):
    """All (image, i, j) at once: n_shifts x N x N distances, one mask, one nonzero."""
    n = pos.shape[0]
    diff = pos[None, :, :] - pos[:, None, :]                     # diff[i, j] = r_j - r_i
    d = diff[None, :, :, :] + shifts[:, None, None, :]          # (S, N, N, 3)
    r2 = torch.einsum("sijk,sijk->sij", d, d)
    mask = r2 < cutoff * cutoff
    zero = torch.all(shifts == 0, dim=1).nonzero()
    if zero.numel():
        mask[int(zero[0])].fill_diagonal_(False)
    s_idx, i_idx, j_idx = mask.nonzero(as_tuple=True)
    return i_idx, j_idx, d[s_idx, i_idx, j_idx]


def build_pairs(positions, cell, cutoff: float, dtype=torch.float64, device=None,
                min_distance: float | None = None, where: str = "structure") -> PairList:
    """All pairs closer than ``cutoff`` (length units), sorted by centre atom.

    Parameters
    ----------
    positions : (N, 3) array.
    cell : (3, 3) array with lattice vectors as rows, or ``None`` (isolated).
    min_distance : if given, raise :class:`StructureError` when two atoms are closer
        (atoms "closer than physics allows"), naming ``where`` and the atoms.
    """
    pos_np = np.asarray(positions, dtype=float)
    n = len(pos_np)
    if cell is not None:
        # Wrap into the cell: image_shifts() assumes wrapped atoms. Pair vectors
        # r_j + S - r_i do not change, only which image S they come from.
        cell_np = np.asarray(cell, dtype=float)
        frac = pos_np @ np.linalg.inv(cell_np)
        pos_np = (frac - np.floor(frac)) @ cell_np
    if cell is not None and n * n <= _BRUTE_FORCE_LIMIT and _min_height(cell) >= 2.0 * cutoff:
        # one image per pair; nonzero() lists them by centre, then neighbour: sorted already
        center, neighbor, vec = _minimum_image(pos_np, cell, cutoff, dtype, device)
    else:
        shifts_np = np.zeros((1, 3)) if cell is None else image_shifts(cell, cutoff) @ np.asarray(cell, dtype=float)
        if n * n * len(shifts_np) <= _BRUTE_FORCE_LIMIT or cell is None and n < 3000:
            pos = torch.as_tensor(pos_np, dtype=dtype, device=device)
            shifts = torch.as_tensor(shifts_np, dtype=dtype, device=device)
            center, neighbor, vec = _brute_force(pos, shifts, cutoff)
        else:
            center, neighbor, vec = _cell_list(pos_np, cell, cutoff, dtype, device)
        order = torch.argsort(center * (n + 1) + neighbor, stable=True)
        center, neighbor, vec = center[order], neighbor[order], vec[order]
    dist = torch.linalg.vector_norm(vec, dim=1)
    if min_distance is not None and dist.numel() and float(dist.min()) < min_distance:
        p = int(torch.argmin(dist))
        raise StructureError(
            f"{where}: atoms {int(center[p])} and {int(neighbor[p])} are {float(dist[p]):.4g} apart, "
            f"closer than the minimum distance {min_distance:g} allowed (overlapping atoms?)")
    return PairList(center, neighbor, vec, dist)


def shortest_distance(structures, probe: float) -> float:
    """Shortest interatomic distance over ``structures`` (length units); ``inf`` if no pair is closer than ``probe``.

    Used to place the innermost shifted radial candidate where atoms actually are
    (n2p2's ``sfparamgen`` calls it r_lower).
    """
    best = float("inf")
    for s in structures:
        pairs = build_pairs(s.positions, s.cell, probe)
        if len(pairs):
            best = min(best, float(pairs.dist.min()))
    return best


def _min_height(cell) -> float:
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    return min(volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3))


def _minimum_image(pos_np: np.ndarray, cell, cutoff: float, dtype, device):
    """Cells with every plane spacing >= 2 r_cut: each pair has at most one image within r_cut.

    For |d| < r_cut <= h_k / 2 every fractional component of d is below 1/2 in
    magnitude, so rounding the fractional difference finds that image for any
    cell shape.
    """
    pos = torch.as_tensor(pos_np, dtype=dtype, device=device)
    cell_np = np.asarray(cell, float)
    cell_t = torch.as_tensor(cell_np, dtype=dtype, device=device)
    inv = torch.linalg.inv(cell_t)
    diff = pos[None, :, :] - pos[:, None, :]
    if not np.any(cell_np - np.diag(np.diag(cell_np))):
        # orthorhombic: the same numbers as below (the products with the zeros add nothing), in place
        t = diff * inv.diagonal()
        d = diff.sub_(t.round_().mul_(cell_t.diagonal()))
    else:
        d = diff - torch.round(diff @ inv) @ cell_t
    r2 = torch.einsum("ijk,ijk->ij", d, d)
    mask = r2 < cutoff * cutoff
    mask.fill_diagonal_(False)
    i_idx, j_idx = mask.nonzero(as_tuple=True)
    return i_idx, j_idx, d[i_idx, j_idx]


def _cell_list(pos_np: np.ndarray, cell: np.ndarray, cutoff: float, dtype, device):
    """Large periodic cells: ASE's binned neighbour list (linear in N)."""
    from ase.neighborlist import primitive_neighbor_list

    i, j, d = primitive_neighbor_list("ijD", (True, True, True), np.asarray(cell, float), pos_np, cutoff,
                                      self_interaction=False)
    return (torch.as_tensor(i, dtype=torch.long, device=device), torch.as_tensor(j, dtype=torch.long, device=device),
            torch.as_tensor(d, dtype=dtype, device=device))


def pad_slots(rows_sorted: torch.Tensor, n_rows: int):
    """Slot of each entry within its row (entries sorted by row), the row counts and the widest row.

    Lays a pair list out densely per centre: entry k goes to (row[k], slot[k]) of an (n_rows, widest) array.
    """
    counts = torch.bincount(rows_sorted, minlength=n_rows)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(rows_sorted.numel(), device=rows_sorted.device) - starts[rows_sorted]
    return slot, counts, int(counts.max()) if counts.numel() else 0


# Elements per dense block in the padded value kernels (bounds memory to ~8M doubles).
PAD_BLOCK = 8_000_000
