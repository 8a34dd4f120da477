"""Reference-data generation: energies and forces agree with an independent evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit.cli import main
from toolkit.errors import ToolkitError
from toolkit.fileio import read_json
from toolkit.lammps.evaluate import evaluate
from toolkit.lammps.generate import StatePoint, default_state_points, generate, split_configs
from toolkit.lammps.systems import get_system
from toolkit.structures import read_n2p2


@pytest.fixture(scope="module")
def lj_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "lj"
    rc = main(["generate", "lj", str(out), "--configs", "12", "--seed", "3", "--temperatures", "0.5,1.5",
               "--densities", "0.9,1.1", "--starts", "fcc,liquid", "--equilibration", "1", "--melt-time", "1",
               "--jobs", "2", "--rattled", "3", "--rattle-sigma", "0.08", "--quiet"])
    assert rc == 0
    return out


def test_lj_files_and_state_table(lj_set):
    structures = read_n2p2(lj_set / "input.data")
    states = pd.read_csv(lj_set / "states.csv")
    assert len(structures) == len(states) == 15  # 12 MD samples, then 3 rattled copies
    assert set(states["start"][:12]) == {"fcc", "liquid"} and set(states["start"][12:]) == {"rattled"}
    assert set(states["temperature"]) == {0.5, 1.5}
    assert set(states["density_target"]) == {0.9, 1.1}
    np.testing.assert_allclose(states["density"], states["density_target"], rtol=1e-12)
    assert (states["n_atoms"] == 256).all()
    assert states["structure"].tolist() == list(range(15))
    for s, (_, row) in zip(structures, states.iterrows()):
        assert s.elements == ["Ar"] * 256
        frac = s.positions @ np.linalg.inv(s.cell)
        assert frac.min() >= 0.0 and frac.max() < 1.0  # wrapped into the cell
        assert s.energy / 256 == pytest.approx(row["energy_per_atom"])
        assert f"state {row['state']} " in s.comment
    meta = read_json(lj_set / "generate.json")
    assert meta["seed"] == 3
    assert meta["settings"]["interval"] == 0.3
    assert meta["versions"]["lammps_executable"] != "unknown"
    assert len(meta["settings"]["state_points"]) == 8
    assert (meta["settings"]["rattled"], meta["settings"]["rattle_sigma"]) == (3, 0.08)


def test_rattled_copies_are_displaced_samples_and_the_guard_skips_them(lj_set):
    from toolkit.lammps.guard import data_min_distance
    from toolkit.symfuncs.neighbors import shortest_distance

    structures = read_n2p2(lj_set / "input.data")
    states = pd.read_csv(lj_set / "states.csv")
    for k in range(12, 15):
        src = structures[int(states["source"][k])]
        s = structures[k]
        assert " rattled sigma 0.08 from structure " in s.comment and src.comments[-1] in s.comment
        d = s.positions - src.positions
        frac = d @ np.linalg.inv(src.cell)
        d = (frac - np.round(frac)) @ src.cell  # the minimum image of each displacement
        assert 0.06 < d.std() < 0.10  # Gaussian, 0.08 per component, 768 components
        assert abs(d.mean()) < 0.02
        assert s.energy > src.energy  # displaced from a thermal sample: up the potential surface
    md_min = shortest_distance(structures[:12], 1.5)
    assert shortest_distance(structures[12:], 1.5) < md_min  # pairs on the wall MD never reached
    assert data_min_distance(lj_set / "input.data", 1.5) == md_min


def test_lj_energies_and_forces_match_ase(lj_set):
    from ase.calculators.lj import LennardJones

    # ASE's smooth=False LJ shifts each pair energy by -u(rc): the same as pair_modify shift yes.
    for s in read_n2p2(lj_set / "input.data"):
        atoms = s.to_ase()
        atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.8, smooth=False)
        assert atoms.get_potential_energy() == pytest.approx(s.energy, rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(atoms.get_forces(), s.forces, atol=1e-9)


def test_rerun_reuses_finished_state_points(lj_set):
    done = sorted((lj_set / "states").glob("*/done.json"))
    stamps = [p.stat().st_mtime_ns for p in done]
    before = (lj_set / "input.data").read_text()
    generate("lj", lj_set, n_configs=12, seed=3, temperatures=[0.5, 1.5], densities=[0.9, 1.1],
             starts=["fcc", "liquid"], equilibration=1, melt_time=1, show_progress=False, rattled=3, rattle_sigma=0.08)
    assert [p.stat().st_mtime_ns for p in done] == stamps
    assert (lj_set / "input.data").read_text() == before


def test_lj_rerun_reproduces_the_generated_data(lj_set, tmp_path):
    structures = read_n2p2(lj_set / "input.data")[:3]
    again = evaluate(structures, "lj", "reference", work_dir=tmp_path / "rerun")
    for a, b in zip(structures, again):
        assert b.energy == pytest.approx(a.energy, rel=1e-11, abs=1e-9)
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-9)

@pytest.mark.parametrize("system,points", [
    ("al", [StatePoint("fcc", 300.0, pressure=50000.0), StatePoint("liquid", 1300.0, pressure=0.0),
            StatePoint("hcp", 10.0, density=2.7)]),
    ("si", [StatePoint("diamond", 600.0, pressure=0.0)]),
])
@pytest.mark.slow
def test_metal_energies_and_forces_match_lammps_rerun(tmp_path, system, points):
    path = generate(system, tmp_path / system, n_configs=2 * len(points), seed=1, state_points=points,
                    npt_time=0.2, equilibration=0.1, melt_time=0.2, interval=0.02, show_progress=False)
    structures = read_n2p2(path)
    states = pd.read_csv(tmp_path / system / "states.csv")
    assert len(structures) == len(states) == 2 * len(points)
    again = evaluate(structures, system, "reference", work_dir=tmp_path / "rerun")
    for a, b in zip(structures, again):
        assert b.energy == pytest.approx(a.energy, rel=1e-11, abs=1e-9)
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-9)
    sys_ = get_system(system)
    assert structures[0].elements[0] == sys_.element
    if system == "al":  # raised pressure compresses fcc; the NVT state point keeps its density
        rows = states.groupby("state").first()
        assert rows.loc[0, "density"] > 2.75
        assert rows.loc[2, "density"] == pytest.approx(2.7, rel=1e-12)


def test_default_state_points_and_config_split():
    lj = default_state_points("lj")
    assert len(lj) == 30 and {p.start for p in lj} == {"fcc", "liquid"}
    al = default_state_points("al")
    assert {p.start for p in al} == {"fcc", "bcc", "hcp", "liquid"}
    assert min(p.temperature for p in al) == 10 and max(p.temperature for p in al) == 1700
    assert any(p.pressure and p.pressure > 0 for p in al)
    counts = split_configs(400, [p.weight for p in al])
    assert sum(counts) == 400
    heavy = [c for c, p in zip(counts, al) if p.weight > 1]
    light = [c for c, p in zip(counts, al) if p.weight == 1]
    assert min(heavy) > max(light)  # ambient fcc and liquid sampled most
    assert split_configs(28000, [1.0] * 21) == [1334] * 7 + [1333] * 14


@pytest.mark.slow
@pytest.mark.parametrize("composition,n_zr", [(None, 92), ("Cu50Zr50", 128)])
def test_cuzr_energies_forces_and_element_counts(tmp_path, composition, n_zr):
    """Cu-Zr (Mendelev EAM): LAMMPS rerun agrees; every structure has the composition's exact atom counts."""
    points = [StatePoint("liquid", 1100.0, pressure=0.0), StatePoint("liquid", 2000.0, pressure=0.0)]
    out = tmp_path / "cuzr"
    args = ["generate", "cuzr", str(out), "--configs", "4", "--seed", "5", "--temperatures", "1100,2000",
            "--starts", "liquid", "--equilibration", "0.1", "--melt-time", "0.5", "--npt-time", "0.4",
            "--interval", "0.02", "--quiet"]
    assert main(args + (["--composition", composition] if composition else [])) == 0
    structures = read_n2p2(out / "input.data")
    states = pd.read_csv(out / "states.csv")
    assert len(structures) == 4 and set(states["temperature"]) == {p.temperature for p in points}
    for s in structures:  # 256 atoms: 0.36 x 256 = 92.16 -> 92 Zr, 164 Cu
        assert (s.elements.count("Cu"), s.elements.count("Zr")) == (256 - n_zr, n_zr)
    assert (states["n_Zr"] == n_zr).all() and (states["n_Cu"] == 256 - n_zr).all()
    # the density from the structure's own masses: sum m / V
    s = structures[0]
    mass = (s.elements.count("Cu") * 63.546 + s.elements.count("Zr") * 91.224) / 6.02214076e23
    assert states["density"][0] == pytest.approx(mass / (s.volume * 1e-24), rel=1e-12)
    assert 6.0 < states["density"].min() and states["density"].max() < 8.0  # liquid Cu-Zr, g/cm^3
    meta = read_json(out / "generate.json")["settings"]
    assert meta["elements"] == ["Cu", "Zr"]
    assert meta["composition"]["Zr"] == pytest.approx(n_zr / 256, abs=0.01)
    again = evaluate(structures, get_system("cuzr").with_composition(composition), "reference",
                     work_dir=tmp_path / "rerun")
    for a, b in zip(structures, again):
        assert b.energy == pytest.approx(a.energy, rel=1e-11, abs=1e-9)
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-9)
    assert np.abs(structures[0].forces).max() > 0.1  # a liquid: real forces were compared


def test_alloy_compositions_and_counts():
    cuzr = get_system("cuzr-eam")
    assert cuzr.elements == ("Cu", "Zr") and cuzr.composition_label == "Cu64Zr36"
    assert cuzr.atom_counts(256) == [164, 92] and cuzr.atom_counts(250) == [160, 90]
    half = cuzr.with_composition("Cu50Zr50")
    assert half.fractions == (0.5, 0.5) and half.atom_counts(255) == [128, 127]
    assert cuzr.with_composition({"Zr": 1, "Cu": 2}).fractions == pytest.approx((2 / 3, 1 / 3))
    assert cuzr.mean_mass == pytest.approx(0.64 * 63.546 + 0.36 * 91.224)
    for bad in ("Cu64Al36", "Cu64", "cu64zr36", "Cu-1Zr2"):
        with pytest.raises(ToolkitError):
            cuzr.with_composition(bad)
    pts = default_state_points("cuzr")
    assert {p.start for p in pts} == {"liquid"}
    assert min(p.temperature for p in pts) == 900 and max(p.temperature for p in pts) == 2300
    assert get_system("si").elements == ("Si",) and get_system("si").fractions == (1.0,)
