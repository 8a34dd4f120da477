"""hdnnp-toolkit: Behler-Parrinello neural-network potentials (HDNNPs).

n2p2-exact symmetry functions, PyTorch training, adaptive-group-lasso feature
selection, export to n2p2 files and validation in LAMMPS.

Units: whatever the data are in (n2p2 convention); the built-in systems use
eV and Angstrom (Al, Si) or Lennard-Jones reduced units (LJ).

The public API (``from toolkit import ...``; a notebook example in docs/api.md).
Names are imported on first use, so ``import toolkit`` stays fast:

* data: :func:`generate` (LAMMPS reference data), :func:`read_structures`, :func:`write_n2p2`,
  :class:`Structure`;
* features: :class:`SymmetryFunctionSet`, :func:`standard_candidates`, :func:`al_candidates_329`,
  :func:`compute_features`, :class:`FeatureData`;
* training: :class:`ModelSpec`, :class:`TrainSettings`, :func:`prepare` (split and scale:
  an :class:`Experiment`), :func:`train_model`, :class:`HDNNP`;
* selection: :class:`AdaptiveGroupLasso`, :class:`CURSelector`, :class:`PearsonSelector`;
* potentials: :func:`load_potential`, :func:`save_model`, :func:`export_n2p2`, :class:`HDNNPCalculator`;
  their errors against reference data: :func:`structure_errors`, :func:`errors_by_state`;
* molecular dynamics: :func:`quench`, :func:`analyze`, :func:`diffusion_table`, :func:`rdf_table`.
"""

from __future__ import annotations

import importlib

from .allocator import reuse_freed_memory as _reuse_freed_memory

# every process that imports the toolkit (commands, notebooks, feature helpers) allocates tensors of tens to
# hundreds of MB at every training step: glibc's default mmap/munmap of each cost more system time than the work
_reuse_freed_memory()

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "generate": ".lammps.generate",
    "read_structures": ".structures",
    "write_n2p2": ".structures",
    "Structure": ".structures",
    "SymmetryFunctionSet": ".symfuncs",
    "standard_candidates": ".symfuncs",
    "al_candidates_329": ".symfuncs",
    "compute_features": ".api",
    "FeatureData": ".training.data",
    "ModelSpec": ".training.experiment",
    "Experiment": ".training.experiment",
    "prepare": ".training.experiment",
    "TrainSettings": ".training.trainer",
    "train_model": ".api",
    "HDNNP": ".model",
    "AdaptiveGroupLasso": ".selection",
    "CURSelector": ".selection",
    "PearsonSelector": ".selection",
    "load_potential": ".potential",
    "save_model": ".potential",
    "export_n2p2": ".export",
    "HDNNPCalculator": ".calculator",
    "structure_errors": ".prediction_errors",
    "errors_by_state": ".prediction_errors",
    "quench": ".lammps.quench",
    "analyze": ".lammps.analysis",
    "diffusion_table": ".lammps.analysis",
    "rdf_table": ".lammps.analysis",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
