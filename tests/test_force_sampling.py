"""Force terms from a sample of atoms: the stored neighbourhoods, the forces and the loss gradient are exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.features import FeatureFile, sample_force_atoms, write_feature_file
from toolkit.symfuncs import SymmetryFunctionSet, standard_candidates
from toolkit.training.data import FeatureData
from toolkit.training.experiment import ModelSpec, prepare
from toolkit.training.trainer import batch_forces, batch_loss

from conftest import lj_boxes


@pytest.fixture(scope="module")
def lj_pair(tmp_path_factory):
    """The same 6 LJ boxes with every atom's derivatives and with 5 sampled force atoms per structure."""
    structs = lj_boxes(6, seed=3)
    sfset = SymmetryFunctionSet(standard_candidates("Ar", rc=2.0, rc_angular=1.4, n_centered=2, n_shifted=2,
                                                    zetas=(1, 4)), ["Ar"])
    d = tmp_path_factory.mktemp("fs")
    full, part = d / "full.h5", d / "part.h5"
    write_feature_file(full, structs, sfset, derivatives=True, show_progress=False, workers=1)
    write_feature_file(part, structs, sfset, derivatives=True, show_progress=False, workers=1, force_atoms=5,
                       force_seed=11)
    return structs, sfset, full, part


def test_sampling_is_seeded_and_sized():
    a = sample_force_atoms([16, 16, 10], 5, seed=1)
    assert [len(x) for x in a] == [5, 5, 5] and all(np.all(np.diff(x) > 0) for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, sample_force_atoms([16, 16, 10], 5, seed=1)))
    assert not all(np.array_equal(x, y) for x, y in zip(a, sample_force_atoms([16, 16, 10], 5, seed=2)))
    assert [len(x) for x in sample_force_atoms([16, 10], 0.25)] == [4, 3]      # fraction, rounded up
    assert [len(x) for x in sample_force_atoms([16, 3], 5)] == [5, 3]          # never more than the atoms


def test_sampled_neighbourhoods_equal_the_full_derivative_rows(lj_pair):
    """The sampled file stores the full file's pairs whose neighbour is a force atom and the force atoms' self
    blocks, with equal numbers; both equal the dense derivatives computed directly."""
    structs, sfset, full, part = lj_pair
    F = sfset.n_features["Ar"]
    fd = FeatureData.from_file(full, dtype=torch.float64, derivatives=True)
    pdat = FeatureData.from_file(part, dtype=torch.float64, derivatives=True)
    with FeatureFile(part) as ff:
        fatoms = ff.h5["derivatives/force_atoms"][()]
        assert len(fatoms) == 6 * 5 and len(ff.h5["derivatives/Ar/self_row"]) == 30
        assert ff.h5["derivatives/Ar/pair_row"].shape[0] < 0.5 * fd.derivatives.offset["Ar"][-1]
    ra = fd.row_atom["Ar"]
    for s in range(6):
        atoms = fatoms[5 * s:5 * s + 5]
        a = fd.derivatives.read("Ar", np.array([s]), ra, atoms=atoms)[0]
        b = pdat.derivatives.read("Ar", np.array([s]), ra)[0]
        assert torch.equal(a.row, b.row) and torch.equal(a.neighbor, b.neighbor)
        assert torch.equal(a.self_atom, b.self_atom) and b.self_atom.tolist() == atoms.tolist()
        (pa, sa), (pb, sb) = a.dense(F), b.dense(F)
        assert torch.equal(pa, pb) and torch.allclose(sa, sb, rtol=1e-13, atol=1e-15)
        # the dense reference: compute() on the structure alone
        ref = sfset.compute(structs[s], derivatives=True).per_element["Ar"]
        off = fd.atom_offset[s]
        keep = np.isin(ref.pair_neighbor.numpy() + off, atoms)
        assert torch.equal(torch.as_tensor(ref.pair_neighbor.numpy()[keep] + off), b.neighbor)
        assert torch.allclose(pb, ref.dG[torch.as_tensor(keep)], rtol=1e-13, atol=1e-15)
        centre = ref.atoms[ref.pair_row].numpy() + off
        own = torch.stack([ref.dG[torch.as_tensor(centre == k)].sum(0) for k in atoms])   # -dG_k/dr_k
        assert torch.allclose(sb, own, rtol=1e-12, atol=1e-14)


def _exp(path, **kw):
    exp = prepare(path, ModelSpec(hidden=[6, 5]), split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True)
    exp.data.set_force_sampling(**kw)
    return exp


def test_sampled_forces_are_the_models_forces(lj_pair):
    """The forces on the sampled atoms (from their neighbourhoods only) are the full model's forces there."""
    structs, _, _, part = lj_pair
    exp = _exp(part)
    nets = exp.new_networks(seed=4)
    model = exp.to_model(nets)
    conv, _ = model.energy_scale()
    idx = np.array([4, 1])
    b = exp.data.batch(idx, forces=True)
    _, F = batch_forces(nets, b, create_graph=False)
    fatoms = exp.data.derivatives.force_atoms_of(idx)
    ref = np.concatenate([model.predict(structs[s]).forces[a - exp.data.atom_offset[s]] for s, a in zip(idx, fatoms)])
    assert F.shape == (10, 3)
    assert np.allclose(F.detach().numpy() / conv, ref, atol=1e-11)
    assert np.allclose(b.forces.numpy() / conv, np.concatenate([structs[s].forces[a - exp.data.atom_offset[s]]
                                                                 for s, a in zip(idx, fatoms)]))


def test_sampled_force_loss_gradient_matches_finite_differences(lj_pair):
    """Training draw of 3 of the 5 stored force atoms: autograd gradient = central differences of the loss."""
    _, _, _, part = lj_pair
    exp = _exp(part, force_atoms=3, resample=True, seed=5)
    nets = exp.new_networks(seed=2)
    b = exp.data.batch(np.array([0, 3]), forces=True, epoch=2)
    assert len(b.force_atoms) == 6
    loss, _, _ = batch_loss(nets, b, force_weight=0.7)
    params = [nets["Ar"].layers[0].weight, nets["Ar"].layers[1].bias]
    grads = torch.autograd.grad(loss, params)
    h = 1e-4     # the loss is ~1e3 at this initialisation: larger steps keep rounding below 1e-9
    for p, g in zip(params, grads):
        for k in [(0, 1), (3, 2)] if p.dim() == 2 else [(1,), (4,)]:
            with torch.no_grad():
                p[k] += h
                lp = float(batch_loss(nets, b, 0.7)[0])
                p[k] -= 2 * h
                lm = float(batch_loss(nets, b, 0.7)[0])
                p[k] += h
            assert float(g[k]) == pytest.approx((lp - lm) / (2 * h), rel=1e-6, abs=1e-9)


def test_resampling_per_epoch_is_seeded(lj_pair):
    _, _, _, part = lj_pair
    idx = np.array([0, 1, 2])
    exp = _exp(part, force_atoms=2, resample=True, seed=1)
    a0, a0b, a1 = (exp.data.batch(idx, forces=True, epoch=e).force_atoms for e in (0, 0, 1))
    assert torch.equal(a0, a0b) and not torch.equal(a0, a1) and len(a0) == 6
    exp.data.set_force_sampling(force_atoms=2, resample=False, seed=1)
    assert torch.equal(exp.data.batch(idx, forces=True, epoch=0).force_atoms,
                       exp.data.batch(idx, forces=True, epoch=7).force_atoms)
    assert len(exp.data.batch(idx, forces=True).force_atoms) == 15     # evaluation: every stored force atom


def test_on_the_fly_derivatives_equal_the_stored_ones(lj_pair):
    """Derivatives computed in the training step: forces, loss and gradient equal the stored mode's (float64)."""
    structs, _, full, part = lj_pair
    stored = _exp(part, force_atoms=3, resample=True, seed=2)
    otf = _exp(part, force_atoms=3, resample=True, seed=2)
    otf.data.derivatives_on_the_fly(structs, force_atoms=5, force_seed=11)
    assert not hasattr(otf.data.derivatives, "h5")
    nets = stored.new_networks(seed=6)
    for epoch in (None, 4):                      # every stored force atom; a training draw
        idx = np.array([5, 0, 2])
        b1, b2 = stored.data.batch(idx, forces=True, epoch=epoch), otf.data.batch(idx, forces=True, epoch=epoch)
        assert torch.equal(b1.force_atoms, b2.force_atoms) and torch.equal(b1.forces, b2.forces)
        l1, l2 = batch_loss(nets, b1, 0.5)[0], batch_loss(nets, b2, 0.5)[0]
        assert float(l2.detach()) == pytest.approx(float(l1.detach()), rel=1e-10)
        g1 = torch.autograd.grad(l1, list(nets.parameters()))
        g2 = torch.autograd.grad(l2, list(nets.parameters()))
        assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(g1, g2))
        F1, F2 = batch_forces(nets, b1, create_graph=False)[1], batch_forces(nets, b2, create_graph=False)[1]
        assert torch.allclose(F1, F2, rtol=0, atol=1e-10 * float(F1.abs().max()))
    # a column subset computes only what the kept columns need and still agrees
    keep = {"Ar": [0, 3, 5]}
    s1, s2 = stored.data.subset_columns(keep), otf.data.subset_columns(keep)
    n3 = stored.new_networks({"Ar": 3}, seed=1)
    F1 = batch_forces(n3, s1.batch([1, 4], forces=True), create_graph=False)[1]
    F2 = batch_forces(n3, s2.batch([1, 4], forces=True), create_graph=False)[1]
    assert torch.allclose(F1, F2, rtol=0, atol=1e-10 * float(F1.abs().max()))


def test_train_command_on_the_fly_and_sampled(tmp_path):
    """Config keys end to end: sampled force atoms stored, a training draw, on-the-fly derivatives, --memory."""
    import json

    import h5py

    from toolkit.cli import main
    from toolkit.structures import write_n2p2

    write_n2p2(tmp_path / "input.data", lj_boxes(8, seed=2))
    base = """
data: {structures: input.data, features: FEATURES, force_atoms: 0.25, force_seed: 3, derivatives: DERIV}
symfuncs: {rc: 2.0, rc_angular: 1.4, n_centered: 2, n_shifted: 2}
model: {hidden: [4]}
training: {epochs: 2, batch_size: 2, lr: 0.01, progress: false, split: [0.5, 0.25, 0.25], force_weight: 1.0,
           force_atoms: 2, force_resample: true, derivatives: MODE}
"""
    for mode in ("stored", "on_the_fly"):
        cfg = tmp_path / f"{mode}.yaml"
        cfg.write_text(base.replace("MODE", mode).replace("FEATURES", f"{mode}.h5")
                       .replace("DERIV", "true" if mode == "stored" else "false"))
        assert main(["train", str(cfg), "-o", str(tmp_path / mode), "--quiet", "--memory", "50MB"]) == 0
        m = json.loads((tmp_path / mode / "metrics.json").read_text())
        assert np.isfinite(m["val"]["rmse_forces"])
        with h5py.File(tmp_path / f"{mode}.h5") as h5:
            assert ("derivatives" in h5) == (mode == "stored")
            if mode == "stored":
                assert len(h5["derivatives/force_atoms"]) == 8 * 4      # 25 % of 16 atoms
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.replace("MODE", "stored").replace("FEATURES", "stored.h5").replace("0.25", "1.5")
                   .replace("DERIV", "true"))
    assert main(["train", str(bad), "-o", str(tmp_path / "bad")]) == 1
