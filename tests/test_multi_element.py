"""Two elements end to end: Cu-Zr data -> element-resolved candidates -> a trained (tiny) potential ->
n2p2 export -> read back -> identical predictions in Python and in LAMMPS (the toolkit's pair_style hdnnp).

Multi-element symmetry functions themselves are checked against n2p2 by the H2O reference
(tests/test_n2p2_reference.py::test_h2o_matches_n2p2: two elements, type 2 and 3, raw
energies and forces; tests/test_lammps_plugin.py: H2O and a three-element potential in LAMMPS).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.export import export_n2p2
from toolkit.features import write_feature_file
from toolkit.lammps.evaluate import evaluate
from toolkit.lammps.generate import StatePoint, generate
from toolkit.potential import load_potential, save_model
from toolkit.structures import read_n2p2
from toolkit.symfuncs import SymmetryFunctionSet
from toolkit.symfuncs.grids import element_resolved_grid
from toolkit.training import ModelSpec, TrainSettings, evaluate as evaluate_nets, prepare, train


@pytest.fixture(scope="module")
def cuzr_potential(tmp_path_factory):
    """A 2-element potential trained on energies and forces of 12 Cu64Zr36 liquid boxes (256 atoms)."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("cuzr")
    points = [StatePoint("liquid", 1200.0, pressure=0.0), StatePoint("liquid", 2000.0, pressure=0.0)]
    path = generate("cuzr", d / "data", n_configs=12, seed=2, state_points=points, npt_time=0.4,
                    equilibration=0.2, melt_time=0.5, interval=0.05, show_progress=False)
    structures = read_n2p2(path)
    sfs = element_resolved_grid(["Cu", "Zr"], rc=5.0, radial_etas=[0.02, 0.2], shift_etas=[2.0], shifts=[2.6, 3.4],
                                angular_etas=[0.05], zetas=[1, 4], rc_angular=4.0)
    features = write_feature_file(d / "features.h5", structures, SymmetryFunctionSet(sfs, ["Cu", "Zr"]),
                                  derivatives=True, show_progress=False)
    exp = prepare(features, ModelSpec(hidden=[6, 6]), split=(0.7, 0.15, 0.15), forces=True, dtype=torch.float64)
    nets = exp.new_networks(seed=0)
    before = evaluate_nets(nets, exp.data, exp.train, forces=True)["rmse_forces"]
    train(nets, exp.data, exp.train, exp.val, TrainSettings(epochs=40, batch_size=2, lr=1e-2, force_weight=1.0,
                                                            progress=False))
    after = evaluate_nets(nets, exp.data, exp.train, forces=True)["rmse_forces"]
    model = exp.to_model(nets)
    return d, structures, model, before, after


@pytest.mark.slow
def test_two_element_export_reads_back_and_predicts_identically(cuzr_potential):
    d, structures, model, before, after = cuzr_potential
    assert after < 0.8 * before  # it did train (force RMSE, eV/A)
    assert model.elements == ["Cu", "Zr"]
    assert {e: len(v) for e, v in model.symfuncs.items()} == {"Cu": 2 * 4 + 3 * 4, "Zr": 2 * 4 + 3 * 4}
    out = export_n2p2(model, d / "n2p2")
    assert sorted(p.name for p in out.glob("weights.*.data")) == ["weights.029.data", "weights.040.data"]
    saved = save_model(model, d / "model.pt")
    for other in (load_potential(out), load_potential(saved)):
        assert other.elements == model.elements
        for s in structures[:4]:
            a, b = model.predict(s), other.predict(s)
            assert b.energy == pytest.approx(a.energy, rel=1e-12, abs=1e-12)
            np.testing.assert_allclose(b.forces, a.forces, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(b.atomic_energies, a.atomic_energies, rtol=1e-10, atol=1e-12)
    # the per-element networks differ: swapping Cu and Zr changes the energy
    s = structures[0].copy()
    s.elements = ["Zr" if e == "Cu" else "Cu" for e in s.elements]
    assert abs(model.predict(s, forces=False).energy - model.predict(structures[0], forces=False).energy) > 1e-3


@pytest.mark.slow
def test_two_element_export_predicts_identically_in_lammps(cuzr_potential, tmp_path):
    d, structures, model, *_ = cuzr_potential
    out = export_n2p2(model, d / "n2p2_lmp")
    subset = structures[:3]
    got = evaluate(subset, "cuzr", out, work_dir=tmp_path / "rerun")
    for s, g in zip(subset, got):
        p = model.predict(s)
        assert g.energy == pytest.approx(p.energy, rel=1e-10)
        np.testing.assert_allclose(g.forces, p.forces, rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_two_element_potential_runs_in_the_benchmark(cuzr_potential, tmp_path):
    """hdnnp bench on an alloy: the random solid solution with both element types, both potentials run."""
    from toolkit.lammps.bench import bench

    d, _, model, *_ = cuzr_potential
    out = export_n2p2(model, d / "n2p2_bench")
    table = bench(["reference", out], tmp_path / "bench.csv", system="cuzr", steps=20, warmup=5, repeats=1,
                  labels=["reference", "hdnnp"], show_progress=False)
    assert table["system"].tolist() == ["cuzr-eam"] * 2 and (table["median"] > 0).all()
    types = (tmp_path / "bench_runs" / "hdnnp" / "repeat_0" / "types.in").read_text()
    assert "set type 1 type/subset 2 92 " in types  # 92 Zr of 256 atoms
