"""Adaptive group lasso: proximal operator, adaptive weights, frozen groups, path on synthetic data; baselines."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.selection import AdaptiveGroupLasso, CURSelector, PearsonSelector
from toolkit.selection.agl import GroupPenalty, adaptive_weights, frozen_mask, group_norms, group_soft_threshold_
from toolkit.training import FeatureData, ModelSpec, TrainSettings, prepare, train
from toolkit.training.trainer import make_optimizer

torch.set_num_threads(1)


def test_group_soft_threshold_is_exact():
    W = torch.tensor([[3.0, 0.1, 0.0, 1.0], [4.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    tau = torch.tensor([1.0, 0.5, 0.3, float("inf")], dtype=torch.float64)
    group_soft_threshold_(W, tau)
    # column 0: norm 5 -> 4, direction kept; column 1: norm 0.1 < 0.5 -> exactly 0; zero stays 0; inf -> 0
    assert torch.allclose(W[:, 0], torch.tensor([2.4, 3.2], dtype=torch.float64), atol=1e-15)
    assert torch.count_nonzero(W[:, 1:]) == 0


def test_prox_is_the_minimiser_of_the_prox_problem():
    """prox_tau(v) = argmin_w 1/2 ||w - v||^2 + tau ||w||, checked against a brute-force minimisation."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        v = torch.as_tensor(rng.normal(size=(3, 1)))
        tau = float(rng.uniform(0.1, 2.0))
        w = group_soft_threshold_(v.clone(), torch.tensor([tau], dtype=torch.float64))
        obj = lambda x: 0.5 * float(((x - v) ** 2).sum()) + tau * float(x.norm())  # noqa: E731
        for _ in range(200):
            trial = w + torch.as_tensor(rng.normal(scale=0.05, size=(3, 1)))
            assert obj(w) <= obj(trial) + 1e-12


def test_adaptive_weights():
    w = adaptive_weights(np.array([2.0, 0.5, 0.0]), gamma=1.0)
    assert w[0] == pytest.approx(0.5) and w[1] == pytest.approx(2.0) and np.isinf(w[2])
    w2 = adaptive_weights(torch.tensor([4.0, 0.0]), gamma=2.0)
    assert w2[0] == pytest.approx(1 / 16) and np.isinf(w2[1])
    m = frozen_mask({"Ar": w})
    assert m["Ar"].tolist() == [True, True, False]


def test_penalty_value_and_adam_step_size():
    from toolkit.model import ElementNetwork

    torch.manual_seed(0)
    nets = torch.nn.ModuleDict({"Ar": ElementNetwork([4, 3, 1], ["t", "l"])})
    W = nets["Ar"].input_layer.weight
    a = np.array([1.0, 2.0, np.inf, 0.5])
    pen = GroupPenalty(lam=3.0, n_samples=10, weights={"Ar": a})
    n = group_norms(W.detach()).numpy()
    assert float(pen.value(nets)) == pytest.approx(0.3 * (n[0] + 2 * n[1] + 0.5 * n[3]))
    opt = make_optimizer(nets, 0.01, 0.0)
    loss = (nets["Ar"](torch.randn(5, 4, dtype=torch.float64)) ** 2).sum()
    loss.backward()
    opt.step()
    eta = pen.step_sizes(W, opt)
    st = opt.state[W]
    v_hat = st["exp_avg_sq"] / (1 - 0.999 ** float(st["step"]))
    assert torch.allclose(eta, 0.01 / (v_hat.sqrt() + 1e-8).mean(0))
    pen.prox_(nets, opt)
    assert torch.count_nonzero(W[:, 2]) == 0      # inf weight: group removed


def synthetic(S=240, n_atoms=8, F=6, seed=0):
    """Energy from features 0-2 only; 3-5 are noise (the 'fakes' of this test)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 2, (S * n_atoms, F))
    e_atom = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 - 0.7 * X[:, 2]
    struct = np.repeat(np.arange(S), n_atoms)
    E = np.bincount(struct, weights=e_atom, minlength=S)
    return FeatureData.from_arrays({"Ar": X}, {"Ar": struct}, E, np.full(S, n_atoms), dtype=torch.float64)


def test_frozen_groups_stay_exactly_zero():
    exp = prepare(synthetic(S=60), ModelSpec(hidden=[6, 6]), split=(0.6, 0.2, 0.2))
    nets = exp.new_networks(seed=0)
    mask = {"Ar": torch.tensor([True, False, True, False, True, True])}
    st = TrainSettings(epochs=5, batch_size=8, lr=1e-2, weight_decay=1e-2, progress=False)
    train(nets, exp.data, exp.train, exp.val, st, mask=mask)
    W = nets["Ar"].input_layer.weight.detach()
    assert torch.count_nonzero(W[:, [1, 3]]) == 0
    assert torch.all(group_norms(W[:, [0, 2, 4, 5]]) > 0)
    # with a penalty whose adaptive weights exclude groups, they stay zero as well
    pen = GroupPenalty(1.0, len(exp.train), {"Ar": np.array([1, 1, np.inf, 1, 1, 1.0])})
    train(nets, exp.data, exp.train, exp.val, st, penalty=pen, mask=frozen_mask(pen.weights))
    assert torch.count_nonzero(nets["Ar"].input_layer.weight.detach()[:, 2]) == 0


@pytest.mark.slow
def test_agl_path_drops_noise_features(tmp_path, monkeypatch):
    """The estimator keeps the three informative features; no files without a checkpoint folder; resume with one."""
    from sklearn.base import clone

    monkeypatch.chdir(tmp_path)
    data = synthetic(S=160)
    st = TrainSettings(epochs=100, batch_size=16, lr=1e-2, patience=30, restart_period=20, progress=False)
    lines = []
    sel = AdaptiveGroupLasso(lambdas=[0.3, 3.0, 30.0], training=st, model=ModelSpec(hidden=[8, 8]),
                             split=(0.7, 0.15, 0.15), max_features=4, tolerance=3.0, callback=lines.append)
    assert sel.fit(data) is sel
    assert list(tmp_path.iterdir()) == []                       # nothing written
    assert data.scale_a is None                                  # the caller's data are not scaled in place
    assert sel.get_support(indices=True).tolist() == [0, 1, 2]
    assert sel.transform(np.arange(12).reshape(2, 6)).tolist() == [[0, 1, 2], [6, 7, 8]]
    assert sel.transform(data).n_features == {"Ar": 3} and sel.get_feature_names_out().tolist() == ["G1", "G2", "G3"]
    assert sel.lambdas_ == [0.3, 3.0, 30.0] and sel.lambda_max_ is None and sel.metric_ == "energy"
    assert any(l.startswith("full model (6 functions)") for l in lines) and len(lines) >= 4
    # coef_: the AGL group norms of the chosen lambda, zero exactly for the dropped functions
    assert np.array_equal(sel.coef_ > 0, sel.support_)
    assert sel.networks_["Ar"].input_layer.in_features == 3
    # larger lambda selects fewer (or equally many) features, and the refit never hurts much
    n = [r["n_selected"] for r in sel.path_]
    assert n == sorted(n, reverse=True)
    for r in sel.path_:
        if r["n_selected"]:
            assert r["val_rmse_refit"] <= 1.05 * r["val_rmse_penalized"]
            assert sum(x > 0 for x in r["group_norms"]["Ar"]) == r["n_selected"]
    # scikit-learn: parameters as given, clone is unfitted and fits to the same set
    params = sel.get_params()
    assert params["lambdas"] == [0.3, 3.0, 30.0] and params["training"] is st and params["checkpoint_dir"] is None
    again = clone(sel)
    assert not hasattr(again, "support_")
    # with a checkpoint folder: finished lambdas are read back, not retrained, the same set results
    ck = AdaptiveGroupLasso(**{**params, "checkpoint_dir": tmp_path / "ck", "callback": None}).fit(data)
    assert [r["selected"] for r in ck.path_] == [r["selected"] for r in sel.path_]
    res = tmp_path / "ck" / "path" / "step_000" / "result.json"
    stamp = res.stat().st_mtime_ns
    ck2 = clone(ck).fit(data)
    assert res.stat().st_mtime_ns == stamp
    assert [r["selected"] for r in ck2.path_] == [r["selected"] for r in ck.path_]
    assert ck2.get_support(indices=True).tolist() == [0, 1, 2] and ck2.networks_ is not None


def test_lambda_max_is_where_every_group_vanishes():
    """A linear model (one neuron): lambda_max = N max_i |dL/dw_i| at w = 0 with the best constant (closed form),
    and the group lasso keeps no function just above it and some below it."""
    from toolkit.selection import lambda_grid, lambda_max

    exp = prepare(synthetic(S=120), ModelSpec(hidden=[]), split=(0.7, 0.15, 0.15))
    nets = exp.new_networks(seed=0)
    st = TrainSettings(epochs=150, batch_size=12, lr=2e-2, patience=150, restart_period=150, weight_decay=0.0,
                       progress=False)
    lam = lambda_max(exp, nets, st)
    tr = exp.train
    b = exp.data.batch(tr)
    y = (b.target / b.n_atoms).double().numpy()                     # internal energy per atom
    Xs = b.x["Ar"].double().numpy().reshape(6, len(tr), 8).sum(2).T / 8.0   # mean scaled functions per structure
    grad = 2.0 * ((y.mean() - y)[:, None] * Xs).mean(0)            # dL/dw at w = 0, b = mean
    assert lam == pytest.approx(len(tr) * np.abs(grad).max(), rel=1e-9)
    from toolkit.selection.agl import GroupPenalty

    n_active = {}
    for f in (1.25, 0.8):  # early stopping on the training objective itself: the solution, not a val-optimal state
        net = exp.new_networks(seed=0)
        train(net, exp.data, exp.train, exp.train, st, penalty=GroupPenalty(f * lam, len(tr)))
        n_active[f] = int((group_norms(net["Ar"].input_layer.weight.detach()) > 0).sum())
    assert n_active == {1.25: 0, 0.8: 1}
    grid = lambda_grid(lam, 4, 1e-3)
    assert grid[-1] == pytest.approx(lam) and grid[0] == pytest.approx(lam * 1e-3) and grid == sorted(grid)


def test_lambda_max_with_forces_matches_finite_differences(lj_features):
    """With force training the gradient at w = 0 has a force term: checked by central differences of the loss."""
    from toolkit.selection import lambda_max
    from toolkit.training.trainer import evaluate

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[]), split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True)
    st = TrainSettings(force_weight=0.7, batch_size=3, progress=False)
    nets = exp.new_networks(seed=0)
    lam = lambda_max(exp, nets, st)
    lin = nets["Ar"].input_layer
    b = exp.data.batch(exp.train)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.fill_(float((b.target / b.n_atoms).mean()))       # the best constant per atom

    def loss(w):
        with torch.no_grad():
            lin.weight.copy_(w)
        ev = evaluate(nets, exp.data, exp.train, forces=True)
        return ev["e_mse"] + st.force_weight * ev["f_mse"]

    h, F = 1e-6, lin.weight.shape[1]
    g = [(loss(h * torch.eye(F, dtype=torch.float64)[i:i + 1]) - loss(-h * torch.eye(F, dtype=torch.float64)[i:i + 1]))
         / (2 * h) for i in range(F)]
    assert lam == pytest.approx(len(exp.train) * max(abs(x) for x in g), rel=1e-6)


def test_selectors_share_the_interface(lj_features):
    """CUR, Pearson and AGL fit the same Experiment; CUR/Pearson on it equal the matrix versions."""
    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[4]), split=(0.5, 0.25, 0.25))
    tr = exp.train
    rows = exp.data.rows_of("Ar", tr)
    X_atoms = exp.data.values["Ar"][:, rows].T.double().numpy()
    cur = CURSelector(3).fit(exp)
    assert sorted(cur.selected_idx_.tolist()) == sorted(CURSelector(3).fit(X_atoms).selected_idx_.tolist())
    Xs = X_atoms.reshape(len(tr), 16, -1).mean(1)
    pc = PearsonSelector({"Ar": 2}).fit(exp)
    ref = PearsonSelector(2).fit(Xs, exp.data.energy[tr] / 16)
    assert pc.selected_idx_.tolist() == ref.selected_idx_.tolist()
    st = TrainSettings(epochs=3, batch_size=2, lr=1e-2, progress=False)
    agl = AdaptiveGroupLasso(n_lambdas=3, lambda_ratio=0.01, training=st, max_features=10).fit(exp)
    assert agl.lambdas_ == pytest.approx([agl.lambda_max_ / 100, agl.lambda_max_ / 10, agl.lambda_max_])
    assert [r["lambda"] for r in agl.path_] == agl.lambdas_[:len(agl.path_)]
    for s in (cur, pc, agl):
        sub = s.transform(exp)
        assert sub.data.n_features["Ar"] == s.get_support().sum() == len(s.get_feature_names_out())
        assert sub.raw_stats["Ar"].shape[0] == s.get_support().sum()
    with pytest.raises(ValueError, match="Experiment carries"):
        CURSelector(2).fit(exp, np.zeros(3))


def test_cur_and_pearson_selectors():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(400, 3))
    X = np.column_stack([base, base[:, 0] + 1e-3 * rng.normal(size=400), 0.01 * rng.normal(size=400)])
    y = 2 * base[:, 1] + base[:, 0]
    pc = PearsonSelector(n_to_select=2, threshold=0.9).fit(X, y)
    # ranked by |corr| with y: column 1 first, then column 0 or its near-duplicate 3 (never both)
    assert pc.selected_idx_[0] == 1 and pc.selected_idx_[1] in (0, 3)
    assert pc.get_support().sum() == 2
    pc3 = PearsonSelector(n_to_select=3, threshold=0.9).fit(X, y)
    assert not {0, 3} <= set(pc3.selected_idx_.tolist())  # near-duplicate of a kept feature is skipped
    assert pc3.transform(X).shape == (400, 3)
    cur = CURSelector(n_to_select=3).fit(X)
    assert cur.get_support().sum() == 3 and cur.transform(X).shape == (400, 3)
    assert 4 not in cur.selected_idx_                   # the tiny-variance column carries no leverage


def test_fakes_have_matched_statistics():
    from toolkit.selection.fakes import make_fakes

    data = synthetic(S=50)
    raw = data.raw_stats(np.arange(50))
    data.apply_scaling(raw, "scalecenter", 0.0, 1.0)
    aug = make_fakes(data, raw, 4, np.arange(50), "scalecenter", 0.0, 1.0, seed=0)
    assert aug.n_features["Ar"] == 10 and aug.names["Ar"][6:] == ["fake_01", "fake_02", "fake_03", "fake_04"]
    v = aug.values["Ar"][6:].numpy()
    # scaled like real features: range exactly [0, 1] after centring by the mean (scalecenter)
    assert np.allclose(v.max(1) - v.min(1), 1.0)


def test_path_csv_columns(tmp_path):
    from toolkit.selection.path import write_path_csv

    rec = [{"lambda": 0.1, "n_selected": 2, "n_angular": 1, "val_rmse_penalized": 0.02, "val_rmse_refit": 0.01,
            "test_rmse_refit": 0.011, "selected": ["G2(a)", "G9(b)"]}]
    write_path_csv(tmp_path / "path.csv", rec)
    rows = list(csv.reader(open(tmp_path / "path.csv")))
    assert rows[0] == ["lambda", "n_selected", "n_angular", "val_rmse_penalized", "val_rmse_refit", "test_rmse_refit",
                       "selected"]
    assert rows[1][-1] == "G2(a);G9(b)" and float(rows[1][5]) == 0.011
    # force columns appear when the path trained on forces
    rec[0].update({"val_rmse_forces_penalized": 2.0, "val_rmse_forces_refit": 1.5, "test_rmse_forces_refit": 1.6})
    write_path_csv(tmp_path / "path.csv", rec)
    rows = list(csv.reader(open(tmp_path / "path.csv")))
    assert rows[0][6:9] == ["val_rmse_forces_penalized", "val_rmse_forces_refit", "test_rmse_forces_refit"]
    assert float(rows[1][7]) == 1.5


def test_select_command_end_to_end(tmp_path):
    """hdnnp select on a tiny feature file: every output exists and parses."""
    from conftest import lj_boxes

    from toolkit.cli import main
    from toolkit.structures import write_n2p2

    structs = lj_boxes(24, seed=0, max_rattle=0.08, forces=False)

    write_n2p2(tmp_path / "input.data", structs)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
data: {{structures: input.data}}
symfuncs: {{rc: 2.0, rc_angular: 1.4}}
model: {{hidden: [4, 4]}}
training: {{epochs: 4, batch_size: 4, lr: 0.01, progress: false, split: [0.5, 0.25, 0.25]}}
selection: {{n_lambdas: 3, lambda_ratio: 0.01, repeats: 2, fakes: 2, rdf_structures: 4, max_features: 30,
            md_check: false}}
""")
    out = tmp_path / "run"
    assert main(["select", str(cfg), "-o", str(out), "--quiet"]) == 0
    sel = json.loads((out / "selected.json").read_text())
    assert set(sel["sets"]) == {"full", "AGL", "CUR", "PC"}
    # no lambdas in the config: three from the data, up to lambda_max
    assert sel["lambdas"] == pytest.approx([sel["lambda_max"] / 100, sel["lambda_max"] / 10, sel["lambda_max"]])
    assert sel["lambda"] in sel["lambdas"]
    assert sel["sets"]["CUR"]["n"] == sel["sets"]["AGL"]["n"] == sel["sets"]["PC"]["n"]
    assert len(sel["ttests"]) == 6 and "fakes_kept" in sel["fakes"]["CUR"]
    for f in ("path.csv", "rmse_vs_n.png", "selection_matrix.png", "test_rmse_boxplot.png", "radial_rdf.png",
              "repeats.csv", "full/learning_curve.csv", "fakes/fakes.json"):
        assert (out / f).is_file(), f
    assert (out / "path" / "step_000" / "model.pt").is_file()
    from toolkit.potential import load_potential

    m = load_potential(out / "path" / "step_000" / "model.pt")
    assert sum(len(v) for v in m.symfuncs.values()) == len(json.loads((out / "path" / "step_000" / "result.json")
                                                                      .read_text())["selected"])
    # train command on the same config
    assert main(["train", str(cfg), "-o", str(tmp_path / "t"), "--quiet"]) == 0
    assert (tmp_path / "t" / "model.pt").is_file() and (tmp_path / "t" / "learning_curve.png").is_file()


def test_choice_rule_is_relative_to_the_best_refit():
    from toolkit.selection.path import choose_step, reference_rmse

    rec = lambda lam, n, rmse: {"lambda": lam, "n_selected": n, "val_rmse_refit": rmse, "step": int(lam * 10)}
    path = [rec(0.3, 18, 0.017), rec(0.4, 8, 0.0132), rec(0.5, 6, 0.0145), rec(0.6, 4, 0.0161)]
    # the full model trained worst (0.045): the best refit (0.0132) is the reference
    assert reference_rmse(path, 0.045) == pytest.approx(0.0132)
    assert choose_step(path, 0.045, 8, 1.1)["n_selected"] == 6     # 0.0145 <= 1.1 x 0.0132, 0.0161 is not
    assert choose_step(path, 0.045, 8, 1.05)["n_selected"] == 8
    assert choose_step(path, 0.045, 8, 1.5)["n_selected"] == 4
    assert choose_step(path, 0.045, 5, 1.05)["n_selected"] == 4    # nothing qualifies: best RMSE up to 5 functions
    assert reference_rmse(path, 0.01) == pytest.approx(0.01)        # a better full model is the reference


def test_choice_rule_with_a_limit_per_element():
    """max_per_element: a set is small enough only when no element's network keeps more than the limit."""
    from toolkit.selection.path import choose_step, ranked_steps

    def rec(step, cu, zr, f):
        return {"lambda": float(step), "n_selected": cu + zr, "selected_idx": {"Cu": list(range(cu)), "Zr": list(range(zr))},
                "selected": [f"Cu:{i}" for i in range(cu)] + [f"Zr:{i}" for i in range(zr)],
                "val_rmse_refit": 0.001, "val_rmse_forces_refit": f, "step": step}

    path = [rec(0, 60, 40, 0.030), rec(1, 40, 20, 0.033), rec(2, 36, 30, 0.035), rec(3, 34, 13, 0.060)]
    assert choose_step(path, 0.05, 72, 1.2, "forces")["step"] == 1          # 60 functions, 0.033 <= 1.2 x 0.030
    assert choose_step(path, 0.05, 72, 1.2, "forces", 36)["step"] == 2      # Cu 40 > 36: Cu 36 + Zr 30
    assert choose_step(path, 0.05, 72, 1.2, "forces", 35)["step"] == 3      # only 34 + 13 fits: the best small one
    assert [r["step"] for r in ranked_steps(path, 0.05, 72, 1.2, "forces", 3, 36)] == [2, 3, 1]


def test_choice_by_force_rmse():
    """metric 'forces': the rule compares the refits' force RMSEs, not their energy RMSEs."""
    from toolkit.errors import ToolkitError
    from toolkit.selection.path import choose_step, metric_key, reference_rmse

    def rec(lam, n, e, f):
        return {"lambda": lam, "n_selected": n, "val_rmse_refit": e, "val_rmse_forces_refit": f, "step": 0}

    path = [rec(30, 9, 0.030, 1.00), rec(50, 6, 0.020, 1.05), rec(70, 4, 0.019, 2.6), rec(100, 3, 0.0205, 2.7)]
    assert choose_step(path, 0.05, 8, 1.1, "energy")["n_selected"] == 3      # energies: all alike, the smallest
    assert choose_step(path, 4.7, 8, 1.1, "forces")["n_selected"] == 6       # forces: 1.05 <= 1.1 x 1.00
    assert reference_rmse(path, 4.7, "forces") == pytest.approx(1.0)
    assert metric_key("forces", "penalized") == "val_rmse_forces_penalized"
    with pytest.raises(ToolkitError, match="metric"):
        choose_step(path, 1.0, 8, 1.1, "virial")


@pytest.mark.slow  # the default tier keeps test_select_command_end_to_end
def test_select_on_forces_end_to_end(tmp_path, capsys):
    """hdnnp select with force training: force metric, L-BFGS refits, fakes path in a second thread."""
    from conftest import lj_boxes

    from toolkit.cli import main
    from toolkit.structures import write_n2p2

    structs = lj_boxes(20, seed=1, max_rattle=0.08)
    write_n2p2(tmp_path / "input.data", structs)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("""
data: {structures: input.data, derivatives: true}
symfuncs: {rc: 2.0, rc_angular: 1.4, n_centered: 3, n_shifted: 3}
model: {hidden: [4]}
training: {epochs: 3, batch_size: 4, lr: 0.01, progress: false, split: [0.5, 0.25, 0.25], force_weight: 1.0}
selection: {lambdas: [1.0, 1000.0], repeats: 1, repeat_epochs: 2, fakes: 2, parallel_fakes: true,
            refit_optimizer: lbfgs, refit_epochs: 1, rdf_structures: 4, max_features: 30, md_check: false}
""")
    out = tmp_path / "run"
    assert main(["select", str(cfg), "-o", str(out), "--quiet"]) == 0
    sel = json.loads((out / "selected.json").read_text())
    assert sel["metric"] == "forces"
    recs = [json.loads((out / "path" / f"step_{k:03d}" / "result.json").read_text()) for k in range(2)]
    chosen = next(r for r in recs if r["lambda"] == sel["lambda"])
    assert sel["reference_val_rmse"] <= chosen["val_rmse_forces_refit"] + 1e-12
    assert all(np.isfinite(r["val_rmse_forces_refit"]) for r in recs if r["n_selected"] > 0)
    header = next(csv.reader(open(out / "path.csv")))
    assert "val_rmse_forces_refit" in header and "test_rmse_forces_refit" in header
    assert (out / "fakes" / "fakes.json").is_file() and "fakes_kept" in sel["fakes"]["AGL"]
    # the forces metric without force training is refused, naming the key
    cfg.write_text(cfg.read_text().replace("force_weight: 1.0", "force_weight: 0.0")
                   .replace("refit_optimizer: lbfgs", "metric: forces"))
    assert main(["select", str(cfg), "-o", str(tmp_path / "run2"), "--quiet"]) == 1
    assert "'selection.metric: forces' needs force training" in capsys.readouterr().err


def test_angular_cost_weights_the_angular_groups(lj_features, tmp_path):
    """At the same lambda, a high angular cost removes the angular functions and keeps radial ones."""
    from toolkit.selection.path import run_path
    from toolkit.settings import SelectionSettings

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[6]), split=(0.5, 0.25, 0.25), dtype=torch.float64)
    st = TrainSettings(epochs=30, batch_size=2, lr=1e-2, weight_decay=0.0, progress=False)
    full = exp.new_networks(seed=0)
    train(full, exp.data, exp.train, exp.val, st)
    angular = [i for i, sf in enumerate(exp.data.symfuncs["Ar"]) if sf.is_angular]
    assert len(angular) == 2
    n_ang = {}
    for cost in (1.0, 1e6):
        s = SelectionSettings(lambdas=[1e-3], gl_epochs=5, agl_epochs=5, refit_epochs=1, angular_cost=cost)
        rec = run_path(exp, full, 1.0, s, st, tmp_path / f"c{cost:g}", save_models=False, echo=lambda m: None)[0]
        n_ang[cost] = rec["n_angular"]
        assert rec["n_selected"] - rec["n_angular"] == 4        # the radial functions all stay at this lambda
    assert n_ang == {1.0: 2, 1e6: 0}


def test_plots_are_labelled_in_the_data_units():
    from toolkit.selection.path import data_units, metric_label

    assert data_units(["Al"]) == ("eV", "Angstrom") and data_units(["Ar"]) == ("epsilon", "sigma")
    assert metric_label("forces", ["Al"]) == "force RMSE per component (eV/Angstrom)"
    assert metric_label("energy", ["Cu", "Zr"]) == "energy RMSE per atom (eV)"
    assert metric_label("energy", ["Ar"]) == "energy RMSE per atom (epsilon)"


def test_estimator_from_settings_and_bad_hyperparameters(lj_features):
    """from_settings maps the selection: section by name; bad values fail before any training, naming the key."""
    from toolkit.errors import ToolkitError
    from toolkit.settings import SelectionSettings

    sel = SelectionSettings(lambdas=[1.0, 2.0], gamma=2.0, angular_cost=3.0, n_lambdas=4, tolerance=1.1)
    st = TrainSettings(epochs=1, progress=False)
    est = AdaptiveGroupLasso.from_settings(sel, st, lambdas=sel.lambda_values(), checkpoint_dir="x")
    p = est.get_params()
    assert (p["gamma"], p["angular_cost"], p["n_lambdas"], p["tolerance"], p["lambdas"]) == (2.0, 3.0, 4, 1.1, [1.0, 2.0])
    assert p["training"] is st and p["checkpoint_dir"] == "x" and p["metric"] == "auto"
    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[4]), split=(0.5, 0.25, 0.25))
    with pytest.raises(ToolkitError, match="prox 'adam'"):
        AdaptiveGroupLasso(prox="lr", training=st).fit(exp)
    with pytest.raises(ToolkitError, match="selection.tolerance"):
        AdaptiveGroupLasso(lambdas=[1.0], tolerance=0.5, training=st).fit(exp)
    with pytest.raises(ToolkitError, match="needs force training"):
        AdaptiveGroupLasso(metric="forces", training=st).fit(exp)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_restricted_stage_equals_the_masked_full_network(lj_features, optimizer):
    """The AGL and the refit train only their live columns (selection.path): the same numbers as the
    masked full network, energies and forces, AdamW with proximal steps and full-batch L-BFGS."""
    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[5, 5]), split=(0.6, 0.2, 0.2), dtype=torch.float64, forces=True)
    st = TrainSettings(epochs=3, batch_size=4, lr=1e-2 if optimizer == "adam" else 1.0, weight_decay=0.0,
                       force_weight=1.0, optimizer=optimizer, lbfgs_steps=5, progress=False)
    n = exp.data.n_features["Ar"]
    w = np.ones(n)
    w[[1, 4]] = np.inf
    live = [i for i in range(n) if np.isfinite(w[i])]
    pen = (lambda ww: GroupPenalty(0.05, len(exp.train), {"Ar": ww})) if optimizer == "adam" else (lambda ww: None)
    full = exp.new_networks(seed=3)
    with torch.no_grad():
        full["Ar"].input_layer.weight[:, [1, 4]] = 0.0
    small = nn.ModuleDict({"Ar": full["Ar"].select_inputs(live)})
    train(full, exp.data, exp.train, exp.val, st, penalty=pen(w), mask=frozen_mask({"Ar": w}))
    train(small, exp.data.subset_columns({"Ar": live}), exp.train, exp.val, st, penalty=pen(w[live]))
    W_full = full["Ar"].input_layer.weight.detach()
    assert torch.count_nonzero(W_full[:, [1, 4]]) == 0
    torch.testing.assert_close(small["Ar"].input_layer.weight.detach(), W_full[:, live], rtol=1e-9, atol=1e-12)
    for a, b in zip(list(small["Ar"].parameters())[2:], list(full["Ar"].parameters())[2:]):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-9, atol=1e-12)
    assert not torch.equal(W_full, exp.new_networks(seed=3)["Ar"].input_layer.weight)   # it trained


def test_path_stops_once_its_sets_are_past_the_choice():
    """selection.stop_ratio: a choosable set (<= max_features) whose refit error exceeds stop_ratio x the
    reference ends the path; a large set, or one within the ratio, does not."""
    from toolkit.selection.path import _past_the_choice
    from toolkit.settings import SelectionSettings

    def rec(n, err):
        return {"n_selected": n, "val_rmse_forces_refit": err}

    s = SelectionSettings(max_features=15, stop_ratio=2.0)
    path = [rec(58, 0.027), rec(23, 0.031), rec(14, 0.038)]
    assert not _past_the_choice(path, path[-1], 0.028, s, "forces")          # 0.038 < 2 x 0.027
    path.append(rec(20, 0.09))
    assert not _past_the_choice(path, path[-1], 0.028, s, "forces")          # too large to be chosen
    path.append(rec(7, 0.055))
    assert _past_the_choice(path, path[-1], 0.028, s, "forces")              # 0.055 > 2 x 0.027
    assert not _past_the_choice(path, path[-1], 0.028, SelectionSettings(max_features=15), "forces")  # off


def test_estimator_takes_stop_ratio_from_the_settings():
    """selection.stop_ratio reaches the estimator (from a config) and its fit's settings."""
    from toolkit.settings import SelectionSettings

    est = AdaptiveGroupLasso.from_settings(SelectionSettings(stop_ratio=2.0), TrainSettings(progress=False))
    assert est.stop_ratio == 2.0 and est.get_params()["stop_ratio"] == 2.0
    assert AdaptiveGroupLasso().stop_ratio is None


def test_refine_bracket_where_the_choice_could_improve():
    """selection.refine: the bracket is (choice, next lambda) when the choice is within tolerance, (too-large
    set, choice) when the choice is the best allowed set, None when nothing lies between."""
    from toolkit.selection.path import refine_bracket
    from toolkit.settings import SelectionSettings

    def rec(step, lam, cu, zr, f):
        return {"lambda": lam, "n_selected": cu + zr, "step": step, "val_rmse_forces_refit": f,
                "selected_idx": {"Cu": list(range(cu)), "Zr": list(range(zr))}}

    # Cu 37 > 36 at lambda 30: the allowed 41-function set is the best small one -> bisect (30, 65)
    path = [rec(0, 3.0, 100, 68, 0.029), rec(1, 14.0, 40, 34, 0.045), rec(2, 30.0, 37, 18, 0.062),
            rec(3, 65.0, 20, 21, 0.082)]
    s = SelectionSettings(max_features=72, max_per_element=36, tolerance=1.2, metric="forces")
    lo, hi = refine_bracket(path, 0.09, s, "forces")
    assert (lo["step"], hi["step"]) == (2, 3)
    # no limit per element: 55 functions are the best allowed, and 74 > 72 before them -> bisect (14, 30)
    lo, hi = refine_bracket(path, 0.09, s.replace(max_per_element=None), "forces")
    assert (lo["step"], hi["step"]) == (1, 2)
    # a choice within tolerance (0.045 <= 1.6 x 0.029, 74 <= 80): a smaller one may lie before lambda 30
    lo, hi = refine_bracket(path, 0.09, s.replace(max_features=80, max_per_element=None, tolerance=1.6), "forces")
    assert (lo["step"], hi["step"]) == (1, 2)
    # the choice's neighbour differs by one function: nothing to bisect
    path[2] = rec(2, 30.0, 40, 33, 0.070)
    assert refine_bracket(path, 0.09, s.replace(max_features=80, max_per_element=None, tolerance=1.6),
                          "forces") is None
    assert refine_bracket(path[:1], 0.09, s, "forces") is None  # no allowed set


def test_path_refinement_adds_lambdas_in_the_bracket(lj_features, tmp_path):
    """refine = 2: two more lambdas, each the geometric mean of its bracket, numbered after the grid, warm
    started and resumed like the grid's; the path comes back sorted by lambda."""
    from toolkit.selection.path import choose_step, refine_bracket, run_path
    from toolkit.settings import SelectionSettings

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[6]), split=(0.5, 0.25, 0.25), dtype=torch.float64)
    st = TrainSettings(epochs=30, batch_size=2, lr=1e-2, weight_decay=0.0, progress=False)
    full = exp.new_networks(seed=0)
    train(full, exp.data, exp.train, exp.val, st)
    grid = [0.1, 3.16]
    s = SelectionSettings(lambdas=grid, gl_epochs=5, agl_epochs=5, refit_epochs=1, max_features=4, tolerance=1.0)
    base = run_path(exp, full, 1.0, s, st, tmp_path / "grid", save_models=False, echo=lambda m: None)
    assert [r["n_selected"] for r in base][0] > 4 >= base[1]["n_selected"]   # the bracket: too large, allowed
    lo, hi = refine_bracket(base, 1.0, s, "energy")
    lines = []
    refined = run_path(exp, full, 1.0, s.replace(refine=2), st, tmp_path / "ref", save_models=False, echo=lines.append)
    lams = [r["lambda"] for r in refined]
    assert lams == sorted(lams) and len(refined) == 4
    assert sorted(r["step"] for r in refined) == [0, 1, 2, 3]
    first = next(r for r in refined if r["step"] == 2)
    assert first["lambda"] == pytest.approx((lo["lambda"] * hi["lambda"]) ** 0.5, rel=1e-12)
    assert sum("refining the grid" in m for m in lines) == 2
    # the grid allowed only a 1-function set (6 > max_features before it); the bisections find a larger allowed one
    assert choose_step(base, 1.0, 4, 1.0)["n_selected"] == 1
    better = choose_step(refined, 1.0, 4, 1.0)
    assert 1 < better["n_selected"] <= 4 and better["val_rmse_refit"] < choose_step(base, 1.0, 4, 1.0)["val_rmse_refit"]
    again = run_path(exp, full, 1.0, s.replace(refine=2), st, tmp_path / "ref", save_models=False, echo=lines.append)
    assert [r["lambda"] for r in again] == lams and sum("done before" in m for m in lines) == 4
