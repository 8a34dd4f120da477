"""hdnnp-toolkit: Behler-Parrinello neural-network potentials (HDNNPs).

n2p2-exact symmetry functions, PyTorch training, adaptive-group-lasso feature
selection, export to n2p2 files and validation in LAMMPS.

Units: whatever the data are in (n2p2 convention); the built-in systems use
eV and Angstrom (Al, Si) or Lennard-Jones reduced units (LJ).
"""

__version__ = "0.1.0"
