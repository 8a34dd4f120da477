"""The report's units: the data's (LAMMPS ``units metal``: Angstrom, eV, ps, K; LJ: sigma, epsilon, tau).

One :class:`ReportUnits` per system (:func:`report_units`), built from
:class:`toolkit.lammps.systems.System`. Energy RMSEs are shown in meV/atom for
metal units (the files hold eV/atom: :attr:`ReportUnits.energy_scale` is the
factor), forces in eV/Angstrom, D in Angstrom^2/ps (1 Angstrom^2/ps =
1e-8 m^2/s), activation energies in eV. LJ keeps its reduced units.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lammps.systems import System, get_system


@dataclass(frozen=True)
class ReportUnits:
    """Labels (and the one scale factor) of every number and axis of a report."""

    system: str
    reference_name: str   # "Mendelev EAM for Al (Al_mm.eam.fs)"
    reference_label: str  # legend label: "EAM (Mendelev)", "Stillinger-Weber", "lj/cut"
    length: str           # "Angstrom" / "sigma"
    energy: str           # "eV" / "epsilon"
    time: str             # "ps" / "tau"
    temperature: str      # "K" / "epsilon/kB"
    density: str          # "g/cm^3" / "sigma^-3"
    energy_rmse: str      # "meV/atom" / "epsilon/atom"
    energy_scale: float   # file value (eV/atom, epsilon/atom) x this = shown value
    force: str            # "eV/Angstrom" / "epsilon/sigma"
    diffusion: str        # "Angstrom^2/ps" / "sigma^2/tau"
    diffusion_note: str   # "1 Angstrom^2/ps = 1e-8 m^2/s = 0.01 cm^2/s" (metal units)
    elements: tuple[str, ...]
    composition: str      # "Cu64Zr36", "Al"
    is_lj: bool

    def temperature_text(self, t: float) -> str:
        """``"1250 K"``; LJ: ``"T = 1.5"`` style number only."""
        return f"{t:g}" if self.is_lj else f"{t:g} K"

    def rmse_text(self, value: float, metric: str) -> str:
        """An RMSE of ``metric`` (energy per atom or force component) with its unit."""
        if metric == "energy":
            return f"{value * self.energy_scale:.4g} {self.energy_rmse}"
        return f"{value:.4g} {self.force}"

    def rmse_unit(self, metric: str) -> str:
        return self.energy_rmse if metric == "energy" else self.force


def report_units(system: str | System) -> ReportUnits:
    """The units of ``system`` (a name or alias of :data:`toolkit.lammps.systems.SYSTEMS`, or a System)."""
    s = get_system(system) if isinstance(system, str) else system
    lj = s.is_lj
    return ReportUnits(
        system=s.name, reference_name=s.reference_name or s.pair_style,
        reference_label=s.reference_label, length=s.length_unit, energy=s.energy_unit,
        time=s.time_unit, temperature=s.temperature_unit, density=s.density_unit,
        energy_rmse="epsilon/atom" if lj else "meV/atom", energy_scale=1.0 if lj else 1000.0,
        force=f"{s.energy_unit}/{s.length_unit}",
        diffusion=f"{s.length_unit}^2/{s.time_unit}",
        diffusion_note="" if lj else "1 Angstrom^2/ps = 1e-8 m^2/s = 1e-4 cm^2/s",
        elements=s.elements, composition=s.composition_label, is_lj=lj)
