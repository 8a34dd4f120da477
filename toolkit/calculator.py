"""ASE ``Calculator`` for a potential, so ASE's MD, optimisers and I/O work with it."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .model import HDNNP
from .potential import load_potential
from .structures import Structure


class HDNNPCalculator(Calculator):
    """Energies (eV or the data's unit), forces, per-atom energies and stress of an HDNNP.

    ``potential``: an :class:`~toolkit.model.HDNNP`, an n2p2 directory or a ``model.pt``.
    Stress follows ASE's convention (positive = tensile, energy/length^3, Voigt order
    xx yy zz yz xz xy): sigma = -W / V with W the virial.
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress"]

    def __init__(self, potential, **kwargs):
        super().__init__(**kwargs)
        self.model: HDNNP = potential if isinstance(potential, HDNNP) else load_potential(potential)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        s = Structure.from_ase(self.atoms)
        want_stress = "stress" in properties and s.cell is not None
        p = self.model.predict(s, forces=True, virial=want_stress)
        self.results["energy"] = p.energy
        self.results["free_energy"] = p.energy
        self.results["forces"] = p.forces
        self.results["energies"] = p.atomic_energies
        if want_stress:
            sigma = -p.virial / self.atoms.get_volume()
            sigma = 0.5 * (sigma + sigma.T)
            self.results["stress"] = np.array([sigma[0, 0], sigma[1, 1], sigma[2, 2],
                                               sigma[1, 2], sigma[0, 2], sigma[0, 1]])
