"""ASE ``Calculator`` for a potential, so ASE's MD, optimisers and I/O work with it."""

from __future__ import annotations

import warnings

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .errors import InputWarning

from .model import HDNNP
from .potential import load_potential
from .structures import Structure


class HDNNPCalculator(Calculator):
    """Energies (eV or the data's unit), forces, per-atom energies and stress of an HDNNP.

    ``potential``: an :class:`~toolkit.model.HDNNP`, an n2p2 directory or a ``model.pt``.
    Stress follows ASE's convention (positive = tensile, energy/length^3, Voigt order
    xx yy zz yz xz xy): sigma = -W / V with W the virial.

    Extrapolation (atoms whose symmetry functions lie outside the ``scaling.data``
    range, as the LAMMPS plugin counts them) is reported as an
    :class:`~toolkit.errors.InputWarning` and kept in ``results["extrapolation"]``:
    ``None``, or a dict with ``atoms_outside``, ``element``, ``function`` (1-based,
    scaling.data order), ``value``, ``min`` and ``max`` of the worst function.
    ``warn_extrapolation=False`` keeps the record but silences the warning.
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress"]

    def __init__(self, potential, warn_extrapolation: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.model: HDNNP = potential if isinstance(potential, HDNNP) else load_potential(potential)
        self.warn_extrapolation = warn_extrapolation

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from .predict import extrapolation_message, find_extrapolation
        from .structures import check_elements

        s = Structure.from_ase(self.atoms)
        check_elements([s], self.model.elements, source="atoms")
        want_stress = "stress" in properties and s.cell is not None
        par = next(self.model.parameters())
        feats = self.model.sfset.compute([s], derivatives=False, dtype=par.dtype, device=par.device)
        ew = find_extrapolation(self.model, feats)
        self.results["extrapolation"] = ew[0] if ew else None
        if ew and self.warn_extrapolation:
            warnings.warn(InputWarning(extrapolation_message(ew[0]).replace("structure 0", "atoms")), stacklevel=2)
        E, atomic, F, W, _ = self.model.predict_batch([s], forces=True, virial=want_stress, features=feats)
        self.results["energy"] = float(E[0])
        self.results["free_energy"] = float(E[0])
        self.results["forces"] = F.cpu().numpy()
        self.results["energies"] = atomic.cpu().numpy()
        if want_stress:
            sigma = -W[0].cpu().numpy() / self.atoms.get_volume()
            sigma = 0.5 * (sigma + sigma.T)
            self.results["stress"] = np.array([sigma[0, 0], sigma[1, 1], sigma[2, 2],
                                               sigma[1, 2], sigma[0, 2], sigma[0, 1]])
