"""Per-element analysis on systems with known answers: partial RDFs of ideal lattices, per-species
diffusion of random walkers with prescribed D, per-element Arrhenius fits, bond-angle distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit.lammps.angles import angle_peak, bond_angle_distribution, first_minimum
from toolkit.lammps.dump import write_dump
from toolkit.lammps.msd import random_walk
from toolkit.lammps.partials import (
    coordination_number,
    dump_types,
    element_arrhenius,
    element_diffusion,
    partial_first_peaks,
    partial_rdfs,
)
from toolkit.lammps.systems import KB_EV
from toolkit.structures import Structure


def b2_lattice(a: float = 3.2, n: int = 6) -> Structure:
    """CsCl (B2) Cu-Zr: Cu on the cube corners, Zr in the body centres; n^3 cells."""
    grid = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)], float) * a
    pos = np.concatenate([grid, grid + a / 2])
    return Structure(positions=pos, elements=["Cu"] * len(grid) + ["Zr"] * len(grid), cell=np.eye(3) * a * n)


def test_partial_rdfs_of_an_ideal_b2_lattice(tmp_path):
    a = 3.2
    s = b2_lattice(a)
    r, g, n = partial_rdfs([s], cutoff=5.0, bins=250)
    assert n == 1 and set(g) == {("Cu", "Cu"), ("Cu", "Zr"), ("Zr", "Zr")}
    dr = r[1] - r[0]
    peaks = partial_first_peaks(r, g, r_max=3.5)
    assert peaks[("Cu", "Zr")][0] == pytest.approx(a * math.sqrt(3) / 2, abs=dr)  # 2.771
    assert peaks[("Cu", "Cu")][0] == pytest.approx(a, abs=dr)
    rho_b = 1 / a**3  # each element: one atom per cell
    cn = lambda pair, lo, hi: coordination_number(r, g[pair], rho_b, lo, hi)
    assert cn(("Cu", "Zr"), 2.5, 3.0) == pytest.approx(8, rel=0.02)  # 8 unlike neighbours at a sqrt(3)/2
    assert cn(("Cu", "Zr"), 0.0, 5.0) == pytest.approx(8, rel=0.02)  # the next, a sqrt(11)/2 = 5.31, is outside
    assert cn(("Cu", "Cu"), 3.0, 3.4) == pytest.approx(6, rel=0.02)
    assert cn(("Zr", "Zr"), 4.3, 4.7) == pytest.approx(12, rel=0.02)  # a sqrt(2)
    assert cn(("Cu", "Cu"), 0.0, 3.0) == 0.0
    # atoms in another order (Zr first): OVITO orders types by appearance, the pairs stay the same
    flipped = Structure(positions=s.positions[::-1].copy(), elements=s.elements[::-1], cell=s.cell)
    r3, g3, _ = partial_rdfs([flipped, s], cutoff=5.0, bins=250)
    assert list(g3) == [("Cu", "Cu"), ("Cu", "Zr"), ("Zr", "Zr")]
    for pair in g:
        np.testing.assert_allclose(g3[pair], g[pair], atol=1e-9)
    # the same lattice through a LAMMPS dump with numeric types named by a type map
    path = write_dump(tmp_path / "b2.lammpstrj", [s, s], {"Cu": 1, "Zr": 2})
    assert dump_types(path).tolist() == [1] * 216 + [2] * 216
    r2, g2, n2 = partial_rdfs([path], cutoff=5.0, bins=250, type_names={1: "Cu", 2: "Zr"})
    assert n2 == 2 and set(g2) == set(g)
    for pair in g:
        np.testing.assert_allclose(g2[pair], g[pair], atol=1e-9)


def test_per_element_diffusion_of_two_random_walk_species():
    """Species Cu (D = 0.5) and Zr (D = 0.08 length^2/time), 1500 walkers each: each D within 5 %.

    The statistical error of D from 1500 walkers over lags up to half of 200 steps is about 1.5 %
    (6 seeds: deviations of -2.7 % to +2.8 %).
    """
    dt = 0.01
    a = random_walk(1500, 200, D=0.5, dt=dt, seed=1)
    b = random_walk(1500, 200, D=0.08, dt=dt, seed=2)
    pos = np.concatenate([a, b], axis=1)
    elements = ["Cu"] * 1500 + ["Zr"] * 1500
    t = np.arange(len(pos)) * dt
    fits = element_diffusion(t, pos, elements, masses={"Cu": 63.546, "Zr": 91.224})
    assert fits["Cu"].D == pytest.approx(0.5, rel=0.05)
    assert fits["Zr"].D == pytest.approx(0.08, rel=0.05)
    assert abs(fits["Cu"].D / fits["Zr"].D / 6.25 - 1) < 0.08  # the species are told apart
    assert 0.9 < fits["Cu"].alpha < 1.1 and 0.9 < fits["Zr"].alpha < 1.1
    # a drift of the whole system (mass-weighted centre of mass) changes nothing
    drift = pos + (np.arange(len(pos)) * 0.05)[:, None, None]  # length units per frame
    again = element_diffusion(t, drift, elements, masses={"Cu": 63.546, "Zr": 91.224})
    assert again["Zr"].D == pytest.approx(fits["Zr"].D, rel=1e-9)


def test_per_element_arrhenius_recovers_activation_energies():
    T = np.array([2000.0, 1800.0, 1600.0, 1400.0, 1250.0, 1100.0])
    D = {"Cu": 40.0 * np.exp(-0.45 / (KB_EV * T)), "Zr": 25.0 * np.exp(-0.62 / (KB_EV * T))}
    fits = element_arrhenius(T, D, KB_EV)
    assert fits["Cu"].Ea == pytest.approx(0.45, rel=1e-9) and fits["Zr"].Ea == pytest.approx(0.62, rel=1e-9)
    assert fits["Zr"].D0 == pytest.approx(25.0, rel=1e-9)


def test_bond_angle_distributions_of_ideal_lattices():
    from ase.build import bulk

    si = Structure.from_ase(bulk("Si", "diamond", a=5.431, cubic=True).repeat(3))
    theta, p, n = bond_angle_distribution([si], cutoff=3.0, bins=180)  # first shell 2.35, second 3.84
    assert n == 1 and np.sum(p) * (theta[1] - theta[0]) == pytest.approx(1.0)
    assert angle_peak(theta, p)[0] == pytest.approx(109.47, abs=0.5)
    assert p[np.abs(theta - 109.47) > 1.0].sum() == 0.0  # every angle tetrahedral
    al = Structure.from_ase(bulk("Al", "fcc", a=4.05, cubic=True).repeat(3))
    theta, p, _ = bond_angle_distribution([al], cutoff=3.4, bins=180)  # 12 neighbours at 2.86
    share = lambda angle: float(p[np.abs(theta - angle) < 1.5].sum() * (theta[1] - theta[0]))
    # 66 angles per atom: 24 at 60, 12 at 90, 24 at 120, 6 at 180 degrees (OVITO's histogram loses
    # part of the exactly-180-degree angles at its upper edge: compare the others with each other)
    assert share(90) / share(60) == pytest.approx(12 / 24, rel=1e-9)
    assert share(120) / share(60) == pytest.approx(1.0, rel=1e-9)
    assert share(60) + share(90) + share(120) + share(179) == pytest.approx(1.0, abs=1e-9)
    assert 0 < share(179) <= 6 / 66


def test_first_minimum_of_g():
    r = np.linspace(0.05, 8.0, 160)
    g = np.exp(-((r - 2.45) ** 2) / 0.02) * 2.2 + 1 - 0.4 * np.exp(-((r - 3.1) ** 2) / 0.05) * (r > 1)
    assert first_minimum(r, g) == pytest.approx(3.1, abs=0.1)


@pytest.mark.slow
def test_species_tables_of_a_silicon_quench(tmp_path):
    """A tiny SW-Si quench (LAMMPS) analysed per element and by bond angles; files written."""
    from toolkit.cli import main
    from toolkit.lammps.species_analysis import compare_species, write_species_tables

    md = tmp_path / "MD"
    assert main(["quench", "reference", "-o", str(md), "--system", "si", "--runs", "2", "--temperatures",
                 "2500,2000", "--melt-time", "1", "--equilibration", "0.5", "--measurement", "1.5",
                 "--traj-every", "0.05", "--msd-every", "0.05", "--quiet"]) == 0
    tables = write_species_tables(md, tmp_path / "analysis")
    for name in ("partial_rdf", "partial_rdf_peaks", "diffusion_elements", "diffusion_elements_summary",
                 "arrhenius_elements", "bond_angles", "bond_angle_peaks"):
        assert (tmp_path / "analysis" / f"{name}.csv").is_file()
    peaks = tables["partial_rdf_peaks"]
    assert set(peaks["pair"]) == {"Si-Si"} and peaks["r_peak"].between(2.35, 2.65).all()  # liquid Si: 2.45-2.55
    d = tables["diffusion_elements_summary"].set_index("temperature")["D_mean"]
    assert d[2500.0] > d[2000.0] > 0.3  # A^2/ps; SW liquid near 2000 K: about 1
    angles = tables["bond_angle_peaks"]
    assert (angles["bond_cutoff"] == 3.1).all() and angles["theta_peak"].between(80, 110).all()
    bad = tables["bond_angles"]
    for _, grp in bad.groupby("temperature"):
        assert np.sum(grp["p"]) * (grp["theta"].iloc[1] - grp["theta"].iloc[0]) == pytest.approx(1.0)
    assert tables["arrhenius_elements"]["Ea"].iloc[0] > 0
    d_cmp, p_cmp = compare_species(tables, tables)
    assert np.allclose(d_cmp["D_ratio"], 1.0) and np.allclose(p_cmp["r_peak_dev"], 0.0)
    # the peak is that of the average over every frame of both runs; its standard error from each run's own peak
    from toolkit.lammps.partials import partial_first_peaks, partial_rdfs
    from toolkit.lammps.systems import get_system

    cut = get_system("si-sw").rdf_cutoff
    trajs = sorted(md.glob("run_*/T_2000/traj.lammpstrj"))
    row = peaks.set_index("temperature").loc[2000.0]
    r, both, _ = partial_rdfs(trajs, cut, type_names={1: "Si"})
    assert row["g_peak"] == pytest.approx(partial_first_peaks(r, both)[("Si", "Si")][1], rel=1e-9)
    own = [partial_first_peaks(*partial_rdfs([f], cut, type_names={1: "Si"})[:2])[("Si", "Si")] for f in trajs]
    assert row["n_runs"] == 2 and row["g_peak_sem"] == pytest.approx(abs(own[0][1] - own[1][1]) / 2, rel=1e-9)
    assert row["r_peak_sem"] == pytest.approx(abs(own[0][0] - own[1][0]) / 2, rel=1e-9, abs=1e-12)
    assert p_cmp.set_index("temperature").loc[2000.0, "g_peak_dev_sem"] == pytest.approx(
        math.sqrt(2) * row["g_peak_sem"] / row["g_peak"], rel=1e-9)


@pytest.mark.slow
def test_cuzr_quench_per_element(tmp_path):
    """A tiny Cu64Zr36 quench (Mendelev EAM): composition kept, partial peaks ordered, per-element D."""
    from toolkit.cli import main
    from toolkit.lammps.dump import iter_dump
    from toolkit.lammps.species_analysis import species_tables

    md = tmp_path / "MD"
    assert main(["quench", "reference", "-o", str(md), "--system", "cuzr", "--runs", "1", "--temperatures",
                 "2000,1400", "--melt-time", "1", "--equilibration", "0.5", "--measurement", "2",
                 "--traj-every", "0.05", "--msd-every", "0.05", "--quiet"]) == 0
    frame = next(iter_dump(md / "run_000" / "T_1400" / "traj.lammpstrj"))
    assert np.bincount(frame.column("type").astype(int)).tolist() == [0, 164, 92]  # Cu64Zr36 of 256 atoms
    tables = species_tables(md, angles=False)
    peaks = tables["partial_rdf_peaks"].set_index(["temperature", "pair"])["r_peak"]
    for t in (2000.0, 1400.0):  # Cu-Cu < Cu-Zr < Zr-Zr: 2.4-2.6, 2.7-2.9, 3.1-3.3 A
        assert 2.35 < peaks[t, "Cu-Cu"] < peaks[t, "Cu-Zr"] < peaks[t, "Zr-Zr"] < 3.4
    d = tables["diffusion_elements_summary"]
    assert d["element"].tolist() == ["Cu", "Cu", "Zr", "Zr"] and d["temperature"].tolist() == [2000, 1400] * 2
    D = d.set_index(["element", "temperature"])["D_mean"]
    assert D["Cu", 2000.0] > D["Cu", 1400.0] > 0 and D["Zr", 2000.0] > D["Zr", 1400.0] > 0
    assert set(tables["arrhenius_elements"]["element"]) == {"Cu", "Zr"}
    # the same through the command line, against itself as the reference
    assert main(["analyze", str(md), "--reference", str(md), "-o", str(tmp_path / "an"), "--per-element"]) == 0
    import pandas as pd

    cmp = pd.read_csv(tmp_path / "an" / "species" / "comparison_diffusion.csv")
    assert len(cmp) == 4 and np.allclose(cmp["D_ratio"], 1.0)
    assert (tmp_path / "an" / "species" / "bond_angle_peaks.csv").is_file()
