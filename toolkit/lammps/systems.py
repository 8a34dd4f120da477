"""The built-in systems: Lennard-Jones, aluminium (Mendelev EAM), silicon (Stillinger-Weber), Cu-Zr (Mendelev EAM).

A :class:`System` holds everything the generator, the quench protocol and the
analysis need to know: LAMMPS units, element and mass, the reference pair
style, timestep, thermostat damping, Boltzmann's constant in the system's
units, the starting lattices and the default state points.

Units (LAMMPS ``units``):

* ``lj`` -- ``units lj``: sigma = epsilon = m = 1; lengths in sigma, energies
  in epsilon, time in tau = sigma sqrt(m/epsilon), temperature in epsilon/kB,
  density in sigma^-3. kB = 1. The element written to n2p2 files is ``Ar``
  (n2p2 needs a real element symbol; nothing else about argon is used).
* ``al-eam``, ``si-sw``, ``cuzr-eam`` -- ``units metal``: Angstrom, eV, ps, K,
  bar; densities in g/cm^3. kB = 8.617333262e-5 eV/K.

Alloys (``cuzr-eam``) have several elements (LAMMPS atom types 1, 2, ... in
the order of :attr:`System.elements`) and a composition (mole fractions,
default Cu64Zr36); :meth:`System.with_composition` gives the same system at
another composition, :meth:`System.atom_counts` the atoms of each element in
a box of N atoms. Densities of alloys use the composition's mean molar mass.

Lennard-Jones energy convention: ``pair_style lj/cut 2.8`` with
``pair_modify shift yes``. The pair energy is shifted to zero at rc so the
total energy is continuous (what an HDNNP with a smooth cutoff function can
represent); the forces still jump by 24(2 rc^-13 - rc^-7) ~ 0.015 at rc, which
no HDNNP can reproduce exactly (a small irreducible force error). This is the
same convention as ASE's ``LennardJones(rc=2.8, smooth=False)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from ..errors import ToolkitError

#: Boltzmann's constant in eV/K (CODATA 2018), as LAMMPS ``units metal`` uses.
KB_EV = 8.617333262e-5
#: Avogadro's number (1/mol).
N_A = 6.02214076e23


@dataclass(frozen=True)
class Phase:
    """A starting structure: a LAMMPS lattice style and the replication that gives the atom count.

    ``scale`` is LAMMPS's lattice scale: the lattice constant (Angstrom) in
    metal units, the reduced density rho* in LJ units. ``n_basis`` atoms per
    LAMMPS unit cell.
    """

    lattice: str
    scale: float
    cells: tuple[int, int, int]
    n_basis: int

    @property
    def n_atoms(self) -> int:
        nx, ny, nz = self.cells
        return nx * ny * nz * self.n_basis


@dataclass(frozen=True)
class System:
    """Settings of one built-in system (units in the docstring of this module)."""

    name: str
    units: str
    element: str
    mass: float  # g/mol in metal units, 1 in LJ units
    pair_style: str
    pair_coeff: str  # may contain {potentials}, the folder of LAMMPS potential files
    pair_modify: str | None
    timestep: float  # time units (tau or ps)
    tdamp: float  # Nose-Hoover thermostat damping time (time units)
    pdamp: float  # barostat damping time (time units)
    kB: float  # Boltzmann's constant in energy units / temperature unit
    phases: dict = field(default_factory=dict)  # name -> Phase
    melt_temperature: float = 0.0  # where liquid starts are melted (generator)
    rdf_cutoff: float = 8.0  # length units
    bond_cutoff: float | None = None  # bonds of the bond-angle distribution (None: first minimum of g(r))
    length_unit: str = "Angstrom"
    energy_unit: str = "eV"
    time_unit: str = "ps"
    temperature_unit: str = "K"
    density_unit: str = "g/cm^3"
    pressure_unit: str = "bar"
    # quench protocol defaults (see toolkit.lammps.quench)
    quench_temperatures: tuple[float, ...] = ()
    quench_density: float = 0.0
    quench_melt_temperature: float | None = None  # None: the first (highest) quench temperature
    # True: every potential's melt runs with the reference potential (the crystal melts only far
    # above the data's temperatures); the potential itself starts from that liquid
    quench_melt_reference: bool = False
    quench_melt_cool_time: float = 0.0  # then (with the reference) at the first temperature, before the potential
    quench_melt_time: float = 0.0
    quench_equilibration: float = 0.0
    quench_measurement: float = 0.0
    quench_msd_every: float = 0.0  # time between MSD samples
    quench_traj_every: float = 0.0  # time between trajectory frames (RDF)
    aliases: tuple[str, ...] = ()
    # the reference potential in words, with its file (reports); the short name: reference_label
    reference_name: str = ""
    # alloys: the elements after ``element`` (LAMMPS types 2, 3, ...), their masses (g/mol) and the
    # mole fractions of all elements (``element`` first); empty for one-element systems
    other_elements: tuple[str, ...] = ()
    other_masses: tuple[float, ...] = ()
    composition: tuple[float, ...] = ()

    @property
    def reference_label(self) -> str:
        """The reference potential as people name it: ``lj/cut``, ``EAM (Mendelev)``, ``Stillinger-Weber``."""
        style = self.pair_style.split()[0]
        if style.startswith("eam"):
            return "EAM (Mendelev)"
        return {"sw": "Stillinger-Weber", "lj/cut": "lj/cut"}.get(style, style)

    @property
    def elements(self) -> tuple[str, ...]:
        """All elements, in LAMMPS type order (type 1 first)."""
        return (self.element, *self.other_elements)

    @property
    def masses(self) -> tuple[float, ...]:
        """Molar masses (g/mol; 1 in LJ units) in LAMMPS type order."""
        return (self.mass, *self.other_masses)

    @property
    def fractions(self) -> tuple[float, ...]:
        """Mole fractions in LAMMPS type order (``(1.0,)`` for one element)."""
        return self.composition or (1.0,)

    @property
    def mean_mass(self) -> float:
        """Composition-weighted molar mass (g/mol)."""
        return sum(m * x for m, x in zip(self.masses, self.fractions))

    @property
    def composition_label(self) -> str:
        """``Cu64Zr36`` (percent, as alloys are named); the element for one-element systems."""
        if len(self.elements) == 1:
            return self.element
        return "".join(f"{e}{100 * x:.4g}" for e, x in zip(self.elements, self.fractions))

    def with_composition(self, composition: str | Mapping[str, float] | None) -> "System":
        """The same system at another composition: ``"Cu50Zr50"``, ``{"Cu": 0.5, "Zr": 0.5}`` or ``None`` (default).

        Amounts are normalised (percent or fractions alike); every element of
        the system must be named; an element may be 0 only if another remains.
        """
        if composition is None:
            return self
        if isinstance(composition, str):
            text = composition.replace(" ", "")
            parts = re.findall(r"([A-Z][a-z]?)(\d+(?:\.\d*)?|\.\d+)?", text)
            if not parts or "".join(e + (n or "") for e, n in parts) != text:
                raise ToolkitError(f"composition {composition!r}: expected e.g. {self.composition_label or 'Cu64Zr36'}")
            amounts = {e: float(n) if n else 1.0 for e, n in parts}
        else:
            amounts = {str(e): float(x) for e, x in composition.items()}
        unknown = sorted(set(amounts) - set(self.elements))
        if unknown or set(amounts) != set(self.elements):
            raise ToolkitError(f"composition {composition!r}: system {self.name} needs amounts of exactly "
                               f"{', '.join(self.elements)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        total = sum(amounts.values())
        if any(x < 0 for x in amounts.values()) or total <= 0:
            raise ToolkitError(f"composition {composition!r}: amounts must be >= 0 and not all zero")
        return replace(self, composition=tuple(amounts[e] / total for e in self.elements))

    def atom_counts(self, n_atoms: int) -> list[int]:
        """Atoms of each element (type order) in a box of ``n_atoms``: the composition, largest remainders."""
        exact = [n_atoms * x for x in self.fractions]
        counts = [int(x) for x in exact]
        order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
        for i in order[: n_atoms - sum(counts)]:
            counts[i] += 1
        return counts

    def pair_lines(self) -> list[str]:
        """The LAMMPS commands of the reference potential."""
        from .runner import lammps_potentials_dir

        lines = [f"pair_style {self.pair_style}"]
        if self.pair_modify:
            lines.append(f"pair_modify {self.pair_modify}")
        coeff = self.pair_coeff
        if "{potentials}" in coeff:
            coeff = coeff.format(potentials=lammps_potentials_dir())
        lines.append(f"pair_coeff {coeff}")
        return lines

    @property
    def is_lj(self) -> bool:
        return self.units == "lj"

    def number_density(self, density: float) -> float:
        """Atoms per length^3 for a density in the system's density unit."""
        if self.is_lj:
            return density
        return density / self.mean_mass * N_A * 1e-24  # g/cm^3 -> atoms/A^3

    def mass_density(self, number_density: float) -> float:
        """Density in the system's density unit from atoms per length^3."""
        if self.is_lj:
            return number_density
        return number_density * self.mean_mass / N_A * 1e24

    def structure_density(self, elements, volume: float) -> float:
        """Density of a structure (its own element counts) in the system's density unit; volume in length^3."""
        if len(self.elements) == 1:
            return self.mass_density(len(elements) / volume)
        mass_of = dict(zip(self.elements, self.masses))
        return sum(mass_of[e] for e in elements) / volume / N_A * 1e24

    def lattice_scale(self, phase: str, density: float | None) -> float:
        """LAMMPS lattice scale of ``phase`` giving ``density`` (the phase's default if ``None``)."""
        ph = self.phases[phase]
        if density is None:
            return ph.scale
        if self.is_lj:
            return float(density)
        n = self.number_density(density)
        volume_per_cell = ph.n_basis / n
        if ph.lattice == "hcp":  # LAMMPS hcp cell: a x sqrt(3) a x sqrt(8/3) a
            return (volume_per_cell / (3 ** 0.5 * (8 / 3) ** 0.5)) ** (1 / 3)
        return volume_per_cell ** (1 / 3)


_CELLS_256 = (4, 4, 4)

SYSTEMS: dict[str, System] = {
    "lj": System(
        name="lj", units="lj", element="Ar", mass=1.0,
        pair_style="lj/cut 2.8", pair_coeff="1 1 1.0 1.0", pair_modify="shift yes",
        timestep=0.005, tdamp=0.5, pdamp=5.0, kB=1.0,
        phases={"fcc": Phase("fcc", 1.0, _CELLS_256, 4)},
        melt_temperature=4.0, rdf_cutoff=3.2,
        length_unit="sigma", energy_unit="epsilon", time_unit="tau", temperature_unit="epsilon/kB",
        density_unit="sigma^-3", pressure_unit="epsilon/sigma^3",
        # LJ liquid at rho = 0.9 sigma^-3: freezes near T ~ 0.9, stays (supercooled) liquid
        # over these short runs down to T = 0.7 for 256 atoms; see docs/lammps.md.
        quench_temperatures=(1.5, 1.3, 1.1, 0.9, 0.7), quench_density=0.9,
        quench_melt_time=10.0, quench_equilibration=20.0, quench_measurement=100.0,
        quench_msd_every=0.1, quench_traj_every=1.0,
        aliases=("lennard-jones",),
        reference_name="Lennard-Jones (lj/cut, rc 2.8 sigma, shifted)",
    ),
    "al-eam": System(
        name="al-eam", units="metal", element="Al", mass=26.9815,
        pair_style="eam/fs", pair_coeff="* * {potentials}/Al_mm.eam.fs Al", pair_modify=None,
        timestep=0.002, tdamp=0.2, pdamp=2.0, kB=KB_EV,
        phases={
            "fcc": Phase("fcc", 4.05, _CELLS_256, 4),
            "bcc": Phase("bcc", 3.23, (4, 4, 8), 2),
            "hcp": Phase("hcp", 2.864, _CELLS_256, 4),
        },
        melt_temperature=2500.0, rdf_cutoff=8.0,
        # Reference-study protocol: melt at 1250 K, quench in 125 K steps to 875 K, NVT at the
        # density of liquid Al near melting (2.35 g/cm^3; experiment 2.375 at Tm = 933 K).
        quench_temperatures=(1250.0, 1125.0, 1000.0, 875.0), quench_density=2.35,
        quench_melt_time=20.0, quench_equilibration=10.0, quench_measurement=50.0,
        quench_msd_every=0.1, quench_traj_every=1.0,
        aliases=("al", "aluminium", "aluminum"),
        reference_name="Mendelev EAM for Al (Al_mm.eam.fs)",
    ),
    "si-sw": System(
        name="si-sw", units="metal", element="Si", mass=28.0855,
        pair_style="sw", pair_coeff="* * {potentials}/Si.sw Si", pair_modify=None,
        timestep=0.001, tdamp=0.1, pdamp=1.0, kB=KB_EV,
        phases={"diamond": Phase("diamond", 5.431, (3, 3, 3), 8)},
        melt_temperature=3500.0, rdf_cutoff=7.0,
        # the first minimum of the SW liquid's g(r) at 1700 K (3.1 A); one cutoff for every temperature
        # and potential, so that bond-angle distributions compare like with like
        bond_cutoff=3.1,
        # Liquid Si (SW melts at ~1690 K) from 2500 K down to the undercooled liquid at 1500 K in 200 K
        # steps, all inside the generated liquid data (1500-3000 K). 2.45 g/cm^3: the SW liquid at zero
        # pressure near 2000 K (inside the generated data, 2.36-2.48; experiment 2.57 at Tm). A perfect
        # diamond crystal superheats: it is melted at 3500 K, then equilibrated at the first temperature.
        # It stays a (hot) crystal for 3 ps at 2500 K (measured, 2.45 g/cm^3); 3500 K and the crystal are
        # outside the data (1500-3000 K liquid), so every potential's melt runs with SW, which then
        # cools the liquid to the first temperature (1 ps): the potential starts inside its data.
        quench_temperatures=(2500.0, 2300.0, 2100.0, 1900.0, 1700.0, 1500.0), quench_density=2.45,
        quench_melt_temperature=3500.0, quench_melt_reference=True, quench_melt_cool_time=1.0,
        quench_melt_time=10.0, quench_equilibration=5.0, quench_measurement=25.0,
        quench_msd_every=0.05, quench_traj_every=0.5,
        aliases=("si", "silicon", "sw"),
        reference_name="Stillinger-Weber Si (Si.sw)",
    ),
    "cuzr-eam": System(
        name="cuzr-eam", units="metal", element="Cu", mass=63.546,
        other_elements=("Zr",), other_masses=(91.224,), composition=(0.64, 0.36),
        pair_style="eam/fs", pair_coeff="* * {potentials}/CuZr_mm.eam.fs Cu Zr", pair_modify=None,
        timestep=0.002, tdamp=0.2, pdamp=2.0, kB=KB_EV,
        # Mendelev, Sordelet, Kramer, J. Appl. Phys. 102, 043501 (2007): Cu-Zr liquids and glasses.
        # The starting structure is a random fcc solid solution (Zr placed on random sites), always
        # melted: a = 4.1 A gives about the liquid's volume per atom (17 A^3) at 0 pressure.
        phases={"fcc": Phase("fcc", 4.1, _CELLS_256, 4)},
        melt_temperature=2500.0, rdf_cutoff=8.0,
        # Quench from the hot liquid (2000 K) into the undercooled liquid (1100 K; liquidus of Cu64Zr36
        # about 1200 K), inside the generated data (900-2300 K). 7.1 g/cm^3: the liquid at zero pressure
        # near 1500 K (measured: 7.29 at 1100 K, 6.88 at 2000 K). The random fcc solid solution melts
        # within ps at 2500 K.
        # The random solid solution is a crystal that no liquid datum resembles: every potential's melt
        # runs with the EAM (as Si's), the potential starts from that liquid at the first temperature.
        quench_temperatures=(2000.0, 1800.0, 1600.0, 1400.0, 1250.0, 1100.0), quench_density=7.1,
        quench_melt_temperature=2500.0, quench_melt_reference=True, quench_melt_time=5.0, quench_equilibration=5.0,
        quench_measurement=40.0,
        quench_msd_every=0.05, quench_traj_every=0.5,
        aliases=("cuzr", "cu-zr", "cuzr-mm"),
        reference_name="Mendelev EAM for Cu-Zr (CuZr_mm.eam.fs)",
    ),
}


def get_system(name: str) -> System:
    """Look a system up by name or alias (``lj``, ``al``/``al-eam``, ``si``/``si-sw``, ``cuzr``/``cuzr-eam``)."""
    key = name.strip().lower()
    for sys_ in SYSTEMS.values():
        if key == sys_.name or key in sys_.aliases:
            return sys_
    names = ", ".join(f"{s.name} ({'/'.join(s.aliases)})" if s.aliases else s.name for s in SYSTEMS.values())
    raise ToolkitError(f"unknown system {name!r}; known: {names}")


def system_for_element(element: str) -> System:
    """The built-in system whose element is ``element`` (``Ar`` -> lj, ``Al``, ``Si``)."""
    return system_for_elements([element])


def system_for_elements(elements) -> System:
    """The built-in system with exactly these elements, in any order (``["Cu", "Zr"]`` -> cuzr-eam)."""
    for sys_ in SYSTEMS.values():
        if sorted(sys_.elements) == sorted(elements):
            return sys_
    raise ToolkitError(f"no built-in system for element{'s' if len(elements) > 1 else ''} {', '.join(elements)}")
