"""Training: batching, n2p2 scaling, normalisation, forces vs finite differences, early stopping, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toolkit.errors import InputFileError, ToolkitError
from toolkit.training import FeatureData, ModelSpec, TrainSettings, evaluate, prepare, train
from toolkit.training.data import scaling_affine, split_indices
from toolkit.training.trainer import batch_forces, batch_loss, find_lr, internal_energies

torch.set_num_threads(1)


def synthetic(S=160, n_atoms=8, F=6, seed=0, varying=False):
    """Energy = sum over atoms of a smooth function of features 0-2; features 3+ are noise."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(4, 10, S) if varying else np.full(S, n_atoms)
    X = rng.uniform(0, 2, (counts.sum(), F))
    X[:, 4] = 0.3 * X[:, 4] + 5.0           # different ranges: scaling matters
    e_atom = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - 0.7 * X[:, 2]
    struct = np.repeat(np.arange(S), counts)
    E = np.bincount(struct, weights=e_atom, minlength=S) - 3.0 * counts
    return FeatureData.from_arrays({"Ar": X}, {"Ar": struct}, E, counts, dtype=torch.float64), X, struct, E


def test_split_is_seeded_and_disjoint():
    a = split_indices(100, (0.8, 0.1, 0.1), seed=3)
    b = split_indices(100, (0.8, 0.1, 0.1), seed=3)
    c = split_indices(100, (0.8, 0.1, 0.1), seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert sorted(np.concatenate(a).tolist()) == list(range(100))
    assert [len(x) for x in a] == [80, 10, 10]


def test_split_train_tail_keeps_the_split_of_the_head():
    """Structures appended for a refit go to training; validation and test stay those of the head alone."""
    head = split_indices(150, (0.8, 0.1, 0.1), seed=0)
    train, val, test = split_indices(300, (0.8, 0.1, 0.1), seed=0, train_tail=150)
    assert np.array_equal(val, head[1]) and np.array_equal(test, head[2])
    assert np.array_equal(train, np.concatenate([head[0], np.arange(150, 300)]))
    assert [len(x) for x in (train, val, test)] == [270, 15, 15]
    with pytest.raises(ToolkitError, match="train_tail"):
        split_indices(10, train_tail=10)


@pytest.mark.parametrize("mode, expected", [("scale", -0.5), ("center", -1.0), ("scalecenter", -1.5),
                                            ("scalesigma", -5.0), ("none", 2.0)])
def test_scaling_follows_n2p2(mode, expected):
    """n2p2's SymFnc::scale for G = 2 with min 1, max 5, mean 3, sigma 0.5 into [-1, 1]: data and model alike."""
    from toolkit.model import HDNNP
    from toolkit.n2p2.settings import NNSettings
    from toolkit.symfuncs import standard_candidates

    sfs = standard_candidates("Ar", rc=2.8, n_centered=2, n_shifted=2, zetas=(1,))[:1]
    stats = np.array([[1.0, 5.0, 3.0, 0.5]])
    data = FeatureData.from_arrays({"Ar": np.array([[2.0], [4.0]])}, {"Ar": np.array([0, 1])}, np.zeros(2),
                                   np.ones(2), dtype=torch.float64)
    data.apply_scaling({"Ar": stats}, mode, -1.0, 1.0)
    assert data.values["Ar"][0, 0].item() == pytest.approx(expected, abs=1e-15)
    settings = NNSettings(elements=["Ar"], symfuncs=sfs, hidden_nodes={"Ar": [3]}, activations=["t", "l"],
                          scaling=mode, scale_min=-1.0, scale_max=1.0)
    model = HDNNP(settings, {"Ar": stats})
    assert model.scale("Ar", torch.tensor([[2.0]])).item() == pytest.approx(expected, abs=1e-15)


def test_raw_stats_are_min_max_mean_population_sigma():
    G = np.random.default_rng(0).uniform(0.1, 3.0, (50, 4))
    data = FeatureData.from_arrays({"Ar": G}, {"Ar": np.repeat(np.arange(10), 5)}, np.zeros(10), np.full(10, 5),
                                   dtype=torch.float64)
    stats = data.raw_stats(np.arange(10))["Ar"]
    np.testing.assert_allclose(stats, np.stack([G.min(0), G.max(0), G.mean(0), G.std(0)], 1), rtol=1e-13)


def test_constant_function_is_named():
    G = np.ones((20, 3))
    G[:, 0] = np.arange(20)
    with pytest.raises(ToolkitError, match=r"symmetry function 2 \(B\) is constant"):
        scaling_affine(np.stack([G.min(0), G.max(0), G.mean(0), G.std(0)], 1), "scalecenter", names=["A", "B", "C"])


@pytest.mark.parametrize("varying", [False, True])
def test_batch_energies_match_per_atom_sum(varying):
    data, X, struct, E = synthetic(S=30, varying=varying)
    exp = prepare(data, ModelSpec(hidden=[5, 4]), split=(0.6, 0.2, 0.2))
    nets = exp.new_networks(seed=1)
    idx = np.array([3, 0, 17, 9])
    b = exp.data.batch(idx)
    E_b = internal_energies(nets, b).detach().numpy()
    # reference: the ElementNetwork (atom-major) on each structure's scaled rows
    Xs = exp.data.values["Ar"].T
    for k, s in enumerate(idx):
        rows = exp.data.rows_of("Ar", np.array([s]))
        ref = nets["Ar"](Xs[rows]).sum().item()
        assert E_b[k] == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert exp.data.uniform is (not varying)
    # normalisation: internal per-atom energies of the training set have mean 0 and variance 1
    t = exp.data._targets.numpy()[exp.train] / exp.data.n_atoms[exp.train]
    assert abs(t.mean()) < 1e-9 and t.std() == pytest.approx(1.0, rel=1e-9)


def test_training_learns_and_early_stops(tmp_path):
    data, *_ = synthetic(S=200)
    exp = prepare(data, ModelSpec(hidden=[10, 10]), split=(0.7, 0.15, 0.15), split_seed=1)
    nets = exp.new_networks(seed=0)
    before = evaluate(nets, exp.data, exp.val)["rmse_energy"]
    st = TrainSettings(epochs=400, batch_size=16, lr=1e-2, patience=40, min_delta=1e-3, restart_period=20,
                       progress=False)
    r = train(nets, exp.data, exp.train, exp.val, st)
    after = evaluate(nets, exp.data, exp.val)["rmse_energy"]
    # per-atom energies spread ~0.6; a trained 10-10 network gets well below 5 % of that
    assert after < 0.05 * before and after < 0.03
    assert r.stopped_early and r.best_epoch < len(r.history)
    best = min(h["objective"] for h in r.history)
    assert r.best_objective == pytest.approx(best)


def test_checkpoint_resume_gives_the_same_result(tmp_path):
    data, *_ = synthetic(S=80)
    st = TrainSettings(epochs=12, batch_size=8, lr=3e-3, patience=100, progress=False, checkpoint_every=1)

    def run(ckpt, epochs):
        exp = prepare(synthetic(S=80)[0], ModelSpec(hidden=[6]), split=(0.6, 0.2, 0.2))
        nets = exp.new_networks(seed=2)
        train(nets, exp.data, exp.train, exp.val, st.replace(epochs=epochs), checkpoint=ckpt, label="x")
        return nets, exp

    full, exp = run(None, 12)
    ck = tmp_path / "ck.pt"
    run(ck, 5)                       # "interrupted" after 5 epochs: checkpoint holds epoch 5 as done...
    state = torch.load(ck, weights_only=False)
    state["done"] = False            # ...pretend it was killed there
    torch.save(state, ck)
    resumed, _ = run(ck, 12)
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-12)


def test_lr_finder_returns_a_sane_rate():
    data, *_ = synthetic(S=120)
    exp = prepare(data, ModelSpec(), split=(0.8, 0.1, 0.1))
    nets = exp.new_networks(seed=0)
    w0 = [p.detach().clone() for p in nets.parameters()]
    lr = find_lr(nets, exp.data, exp.train, TrainSettings(batch_size=16))
    assert 1e-5 <= lr <= 0.1
    assert all(torch.equal(a, b) for a, b in zip(w0, nets.parameters()))   # networks restored


def test_weight_decay_never_on_input_layer():
    from toolkit.training import make_optimizer

    data, *_ = synthetic(S=20)
    exp = prepare(data, ModelSpec(hidden=[4, 4]), split=(0.6, 0.2, 0.2))
    nets = exp.new_networks()
    opt = make_optimizer(nets, 1e-3, 0.1)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert id(nets["Ar"].input_layer.weight) not in decayed
    assert id(nets["Ar"].layers[1].weight) in decayed and id(nets["Ar"].layers[2].weight) in decayed
    assert not any(id(l.bias) in decayed for l in nets["Ar"].layers)


# -- real structures: forces --------------------------------------------------------

def test_forces_match_finite_differences_and_model(lj_features):
    path, structs = lj_features
    exp = prepare(path, ModelSpec(hidden=[6, 5]), split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True)
    nets = exp.new_networks(seed=3)
    st = TrainSettings(epochs=3, batch_size=2, lr=1e-3, force_weight=0.5, progress=False)
    train(nets, exp.data, exp.train, exp.val, st)
    model = exp.to_model(nets)
    s_i = int(exp.test[0])
    s = structs[s_i]
    b = exp.data.batch([s_i], forces=True)
    E_int, F_int = batch_forces(nets, b, create_graph=False)
    conv, mean = model.energy_scale()
    F = F_int.detach().numpy() / conv
    pred = model.predict(s)
    assert float(E_int[0].detach()) / conv + mean * len(s) == pytest.approx(pred.energy, rel=1e-12)
    assert np.allclose(F, pred.forces, atol=1e-10)
    # central finite differences of the model's energy
    h = 1e-5
    for atom, comp in [(0, 0), (5, 2), (11, 1)]:
        e = []
        for sign in (1, -1):
            s2 = type(s)(positions=s.positions.copy(), elements=s.elements, cell=s.cell)
            s2.positions[atom, comp] += sign * h
            e.append(model.predict(s2, forces=False).energy)
        assert -(e[0] - e[1]) / (2 * h) == pytest.approx(F[atom, comp], abs=1e-6, rel=1e-6)
    # the reference forces are in the batch in internal units
    assert np.allclose(b.forces.numpy() / conv, s.forces)


def test_force_training_reduces_force_error(lj_features):
    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[8, 8]), split=(0.5, 0.25, 0.25), forces=True, dtype=torch.float64)
    nets = exp.new_networks(seed=0)
    f0 = evaluate(nets, exp.data, exp.train, forces=True)["rmse_forces"]
    st = TrainSettings(epochs=80, batch_size=2, lr=1e-2, force_weight=1.0, patience=100, progress=False)
    train(nets, exp.data, exp.train, exp.val, st)
    f1 = evaluate(nets, exp.data, exp.train, forces=True)["rmse_forces"]
    assert f1 < 0.6 * f0


def test_config_errors_name_file_and_key(tmp_path):
    from toolkit.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text("data: {features: f.h5}\ntraining: {epoch: 3}\n")
    with pytest.raises(InputFileError, match=r"c\.yaml.*unknown key 'training\.epoch'.*did you mean 'training\.epochs'"):
        load_config(p)
    p.write_text("data: {features: f.h5}\ntraining: {batch_size: -1}\n")
    with pytest.raises(InputFileError, match=r"c\.yaml.*'training\.batch_size'"):
        load_config(p)
    p.write_text("data: {features: f.h5}\nselection: {lambdas: [1, -2]}\n")
    with pytest.raises(InputFileError, match="selection.lambdas"):
        load_config(p)
    p.write_text("dta: {}\n")
    with pytest.raises(InputFileError, match="unknown section 'dta'.*did you mean 'data'"):
        load_config(p)
    p.write_text("data: {features: f.h5}\nmodel: {hidden: [5, 5], activations: [t, l]}\n")
    with pytest.raises(InputFileError, match="model.activations"):
        load_config(p)
    p.write_text("data: {features: f.h5}\n")
    (tmp_path / "f.h5").write_text("")
    cfg = load_config(p)
    assert cfg.training.epochs == 300 and cfg.data.features == str(tmp_path / "f.h5")


def test_subset_columns_subsets_the_derivatives_too(lj_features):
    """Forces of a network on a column subset equal the exported model's (values and dG/dr columns agree)."""
    path, structs = lj_features
    exp = prepare(path, ModelSpec(hidden=[5]), split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True)
    keep = {"Ar": [0, 2, 4]}
    sub = exp.data.subset_columns(keep)
    nets = exp.new_networks({"Ar": 3}, seed=1)
    s_i = int(exp.test[0])
    _, F_int = batch_forces(nets, sub.batch([s_i], forces=True), create_graph=False)
    model = exp.to_model(nets, keep)
    conv, _ = model.energy_scale()
    assert np.allclose(F_int.detach().numpy() / conv, model.predict(structs[s_i]).forces, atol=1e-10)
    # a subset of a subset indexes the stored columns, not the positions in the first subset
    sub2 = sub.subset_columns({"Ar": [1, 2]})
    assert list(sub2.derivatives.columns["Ar"]) == [2, 4]


def test_lbfgs_refit_fits_energies_and_forces(lj_features, tmp_path):
    """Full-batch L-BFGS: far below the start on forces, masked columns stay zero, resume is exact."""
    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[8, 8]), split=(0.5, 0.25, 0.25), forces=True, dtype=torch.float64)
    mask = {"Ar": torch.tensor([True, True, True, True, False, True])}
    st = TrainSettings(epochs=8, batch_size=2, force_weight=1.0, patience=100, progress=False, optimizer="lbfgs",
                       lbfgs_steps=10, checkpoint_every=1)
    nets = exp.new_networks(seed=0)
    f0 = evaluate(nets, exp.data, exp.train, forces=True)["rmse_forces"]
    r = train(nets, exp.data, exp.train, exp.val, st, mask=mask, checkpoint=tmp_path / "a.pt", label="l")
    f1 = evaluate(nets, exp.data, exp.train, forces=True)["rmse_forces"]
    assert r.lr == 1.0 and f1 < 0.1 * f0
    assert torch.all(nets["Ar"].input_layer.weight[:, 4] == 0)
    # interrupted after 3 epochs, then resumed: the same weights as the uninterrupted run
    nets2 = exp.new_networks(seed=0)
    train(nets2, exp.data, exp.train, exp.val, st.replace(epochs=3), mask=mask, checkpoint=tmp_path / "b.pt", label="l")
    state = torch.load(tmp_path / "b.pt", weights_only=False)
    state["done"] = False
    torch.save(state, tmp_path / "b.pt")
    nets2 = exp.new_networks(seed=0)
    train(nets2, exp.data, exp.train, exp.val, st, mask=mask, checkpoint=tmp_path / "b.pt", label="l")
    for a, b in zip(nets.parameters(), nets2.parameters()):
        assert torch.allclose(a, b, atol=1e-10)


def test_lbfgs_refuses_a_lasso_penalty():
    from toolkit.selection.agl import GroupPenalty

    data, *_ = synthetic(S=40)
    exp = prepare(data, ModelSpec(hidden=[4]), split=(0.5, 0.25, 0.25))
    with pytest.raises(ToolkitError, match="adam"):
        train(exp.new_networks(), exp.data, exp.train, exp.val, TrainSettings(epochs=1, optimizer="lbfgs",
              progress=False), penalty=GroupPenalty(0.1, len(exp.train), None, "adam"))


def test_r_min_auto_starts_the_shifted_functions_at_the_shortest_distance():
    from ase.build import bulk

    from toolkit.structures import Structure
    from toolkit.symfuncs.neighbors import shortest_distance
    from toolkit.training.pipeline import candidate_symfuncs

    a = bulk("Ar", "fcc", a=2 ** (2 / 3), cubic=True).repeat((2, 2, 2))   # rho = 1, nearest neighbours 2^(1/6)
    s = Structure(positions=a.positions.copy(), elements=a.get_chemical_symbols(), cell=np.array(a.cell))
    assert shortest_distance([s], 2.8) == pytest.approx(2 ** (1 / 6), rel=1e-12)
    from toolkit.settings import SymfuncSettings

    cfg = SymfuncSettings(candidates="standard", rc=2.8, r_min="auto", n_centered=6, n_shifted=6)
    shifted = [sf for sf in candidate_symfuncs(cfg, "Ar", [s], echo=lambda m: None) if sf.is_radial and sf.rs > 0]
    assert [sf.rs for sf in shifted][:2] == pytest.approx([1.12, 1.12 + (2.8 * 5 / 6 - 1.12) / 5], rel=1e-5)
    with pytest.raises(ToolkitError, match="r_min"):
        candidate_symfuncs(cfg, "Ar", None)


def test_derivative_chunks_bound_memory_and_change_nothing(tmp_path, monkeypatch):
    """Dense LJ with 10 angular functions at rc 2.8: small derivative chunks, same numbers as one big chunk."""
    import h5py
    from ase.build import bulk

    import toolkit.features as feat
    from toolkit.structures import Structure
    from toolkit.symfuncs import SymmetryFunctionSet, standard_candidates

    structs = []
    for k in range(6):
        a = bulk("Ar", "fcc", a=(4 / 0.9) ** (1 / 3), cubic=True).repeat((2, 2, 2))
        a.rattle(stdev=0.05, seed=k)
        structs.append(Structure(positions=a.positions.copy(), elements=a.get_chemical_symbols(), cell=np.array(a.cell)))
    sfset = SymmetryFunctionSet(standard_candidates("Ar", rc=2.8), ["Ar"])
    n = feat.derivative_chunk_atoms(structs, sfset)
    # ~82 neighbours, 10 angular functions: 24 * (82 * 22 + 4 * 0.5 * 82^2 * 10) bytes per atom -> ~150 atoms per 0.5 GB
    assert 120 < n < 220
    feat.write_feature_file(tmp_path / "small.h5", structs, sfset, derivatives=True, show_progress=False, workers=1)
    monkeypatch.setattr(feat, "derivative_chunk_atoms", lambda *a, **k: 4096)
    feat.write_feature_file(tmp_path / "one.h5", structs, sfset, derivatives=True, show_progress=False, workers=1)
    with h5py.File(tmp_path / "small.h5") as a, h5py.File(tmp_path / "one.h5") as b:
        for key in ("features/Ar/values", "derivatives/Ar/dG_radial", "derivatives/Ar/dG_angular",
                    "derivatives/Ar/angular_pair", "derivatives/Ar/pair_offset", "derivatives/Ar/pair_atom",
                    "derivatives/Ar/self_dG", "derivatives/Ar/self_offset"):
            assert np.array_equal(a[key][()], b[key][()]), key


def test_networks_from_model_predict_what_the_model_predicts(lj_features):
    """Warm start: the potential's weights under another split's scaling and normalisation, exactly."""
    path, structs = lj_features
    exp_a = prepare(path, ModelSpec(hidden=[6, 5]), split=(0.5, 0.25, 0.25), split_seed=0, dtype=torch.float64,
                    forces=True)
    nets_a = exp_a.new_networks(seed=2)
    train(nets_a, exp_a.data, exp_a.train, exp_a.val, TrainSettings(epochs=3, batch_size=2, lr=1e-2, progress=False))
    model = exp_a.to_model(nets_a)
    exp_b = prepare(path, ModelSpec(hidden=[6, 5]), split=(0.5, 0.25, 0.25), split_seed=7, dtype=torch.float64,
                    forces=True)
    assert not np.allclose(exp_b.data.scale_b["Ar"], exp_a.data.scale_b["Ar"])   # other statistics
    assert exp_b.mean_energy != exp_a.mean_energy
    nets_b = exp_b.networks_from_model(model)
    conv, mean = exp_b.conv_energy, exp_b.mean_energy
    for s_i in (0, 5, 11):
        E_int, F_int = batch_forces(nets_b, exp_b.data.batch([s_i], forces=True), create_graph=False)
        pred = model.predict(structs[s_i])
        assert float(E_int[0].detach()) / conv + mean * len(structs[s_i]) == pytest.approx(pred.energy, rel=1e-12)
        assert np.allclose(F_int.detach().numpy() / conv, pred.forces, atol=1e-10)
    with pytest.raises(ToolkitError, match="hidden layers"):
        prepare(path, ModelSpec(hidden=[7, 5]), split=(0.5, 0.25, 0.25), dtype=torch.float64).networks_from_model(model)
    small = exp_b.to_model(nets_b).select_features({"Ar": [0, 1]})
    with pytest.raises(ToolkitError, match="functions differ"):
        exp_b.networks_from_model(small)


def test_fake_columns_have_zero_derivatives(lj_features):
    """Fakes do not depend on positions: their dG/dr are zero, the real columns' are unchanged."""
    from toolkit.selection.fakes import make_fakes

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[5]), split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True)
    aug = make_fakes(exp.data, exp.raw_stats, 3, exp.train, "scalecenter", 0.0, 1.0, seed=0)
    idx = np.array([1, 4])
    F = exp.data.n_features["Ar"]
    row_atom = exp.data.row_atom["Ar"]
    dG = exp.data.derivatives.read("Ar", idx, row_atom)[0].dense(F)[0]
    dG_aug = aug.derivatives.read("Ar", idx, row_atom)[0].dense(F + 3)[0]
    assert dG_aug.shape[1] == dG.shape[1] + 3
    assert torch.equal(dG_aug[:, :dG.shape[1]], dG) and torch.all(dG_aug[:, dG.shape[1]:] == 0)
    # a column subset of the augmented data indexes the padded columns
    sub = aug.subset_columns({"Ar": [1, dG.shape[1] + 2]})
    dG_sub = sub.derivatives.read("Ar", idx, row_atom)[0].dense(2)[0]
    assert torch.equal(dG_sub[:, 0], dG[:, 1]) and torch.all(dG_sub[:, 1] == 0)
    # force training on the augmented data runs
    nets = exp.new_networks(aug.n_features, seed=0)
    train(nets, aug, exp.train, exp.val, TrainSettings(epochs=2, batch_size=2, lr=1e-3, force_weight=1.0,
                                                       progress=False))
    assert np.isfinite(evaluate(nets, aug, exp.val, forces=True)["rmse_forces"])


def test_evaluate_of_no_structures_is_not_measured(lj_features):
    """An empty split gives NaN RMSEs (not measured), never a perfect 0."""
    import math

    from toolkit.training import ModelSpec, prepare
    from toolkit.training.trainer import evaluate

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[3]), split=(0.6, 0.2, 0.2), forces=True)
    nets = exp.new_networks(seed=0)
    ev = evaluate(nets, exp.data, [], forces=True)
    assert math.isnan(ev["rmse_energy"]) and math.isnan(ev["rmse_forces"])
    ev = evaluate(nets, exp.data, exp.val, forces=True)
    assert ev["rmse_energy"] > 0 and ev["rmse_forces"] > 0


def test_tail_weight_weighs_the_last_structures_loss_terms(lj_features):
    """training.tail_weight: the last structures' energy and force terms are scaled by the weight
    (weight 1 changes nothing, weight 0 is the loss without them); RMSEs stay unweighted."""
    path, _ = lj_features
    spec = ModelSpec(hidden=[6, 5])
    plain = prepare(path, spec, split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True, train_tail=4)
    nets = plain.new_networks(seed=1)
    idx = np.arange(12)
    b = plain.data.batch(idx, forces=True)
    loss, e_mse, f_mse = batch_loss(nets, b, 0.3)
    E, F = batch_forces(nets, b, create_graph=False)
    e_sq = (((E - b.target) / b.n_atoms) ** 2).detach().numpy()
    f_sq = ((F - b.forces) ** 2).detach().numpy()
    n_f = [len(a) for a in plain.data._force_atoms(idx, None)]
    owner = np.repeat(idx, n_f)
    for w in (1.0, 0.25, 0.0):
        exp = prepare(path, spec, split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True, train_tail=4,
                      tail_weight=w)
        assert np.array_equal(exp.train, plain.train) and np.array_equal(exp.val, plain.val)
        weights = np.where(idx >= 8, w, 1.0)
        lw, ew, fw = (float(t.detach()) for t in batch_loss(nets, exp.data.batch(idx, forces=True), 0.3))
        assert ew == pytest.approx(float(np.mean(weights * e_sq)), rel=1e-12)
        assert fw == pytest.approx(float(np.mean(weights[owner][:, None] * f_sq)), rel=1e-12)
        assert lw == pytest.approx(ew + 0.3 * fw, rel=1e-12)
        if w == 1.0:
            assert lw == float(loss.detach())
        assert evaluate(nets, exp.data, idx, forces=True) == evaluate(nets, plain.data, idx, forces=True)
    # an explicit count (here 2 of the 4 tail structures) and its bounds
    exp = prepare(path, spec, split=(0.5, 0.25, 0.25), forces=True, train_tail=4, tail_weight=0.0,
                  tail_weight_structures=2)
    assert exp.data.structure_weight.tolist() == [1.0] * 10 + [0.0, 0.0]
    with pytest.raises(ToolkitError, match="tail_weight_structures"):
        prepare(path, spec, split=(0.5, 0.25, 0.25), forces=True, tail_weight=0.5, tail_weight_structures=13)
