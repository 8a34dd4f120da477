"""Memory budgets and the fake-feature path: bounded by a setting, the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.errors import ToolkitError
from toolkit.training.data import FeatureData
from toolkit.training.experiment import ModelSpec, prepare
from toolkit.training.memory import bytes_per_structure, parse_memory, structures_per_batch
from toolkit.training.trainer import TrainSettings, _loss_backward, evaluate, train


def test_parse_memory():
    assert parse_memory("8GB") == 8e9 and parse_memory("512 MB") == 512e6 and parse_memory("2GiB") == 2 * 2**30
    assert parse_memory(1e6) == 1e6 and parse_memory("1.5e3") == 1500
    for bad in ("8 parsecs", "-1GB", 0, True, "GB"):
        with pytest.raises(ToolkitError, match="memory budget"):
            parse_memory(bad)


def _exp(path, memory=None):
    return prepare(path, ModelSpec(hidden=[6, 5]), split=(0.5, 0.25, 0.25), dtype=torch.float64, forces=True,
                   memory=memory)


def test_micro_batches_give_the_batch_gradient(lj_features):
    """A batch split into micro-batches (budget of one structure) has the gradient of the whole batch."""
    path, _ = lj_features
    exp = _exp(path)
    exp.data.set_force_sampling(5, resample=True, seed=3)
    nets = exp.new_networks(seed=1)
    st = TrainSettings(force_weight=0.8)
    idx = np.asarray(exp.train)
    grads = []
    for micro in (len(idx), 1, 4):
        for p in nets.parameters():
            p.grad = None
        loss = _loss_backward(nets, exp.data, idx, st, epoch=2, forward=None, micro=micro)
        grads.append((float(loss), [p.grad.clone() for p in nets.parameters()]))
    for loss, g in grads[1:]:
        assert loss == pytest.approx(grads[0][0], rel=1e-12)
        assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-14) for a, b in zip(g, grads[0][1]))


def test_budget_sets_evaluation_batches_and_keeps_derivatives_on_disk(lj_features):
    """A budget smaller than the data: derivatives read per batch, one structure per step, same numbers."""
    path, _ = lj_features
    big, small = _exp(path), _exp(path, memory=2e4)
    assert big.data.derivatives.in_memory and not small.data.derivatives.in_memory
    assert small.data.derivatives.size_bytes > 2e4
    per = bytes_per_structure(small.data, forces=True)
    assert structures_per_batch(small.data, True, 2e4) == max(1, int(1e4 // per))
    assert structures_per_batch(big.data, True, 4e9) > len(big.data.energy)
    nets = big.new_networks(seed=0)
    a = evaluate(nets, big.data, big.val, forces=True)
    b = evaluate(nets, small.data, small.val, forces=True, memory=2e4)
    assert b["rmse_forces"] == pytest.approx(a["rmse_forces"], rel=1e-12)
    assert b["rmse_energy"] == pytest.approx(a["rmse_energy"], rel=1e-12)
    # training within the budget: micro-batches, derivatives from disk, the same result
    st = TrainSettings(epochs=3, batch_size=4, lr=1e-3, force_weight=1.0, progress=False)
    n1, n2 = big.new_networks(seed=0), small.new_networks(seed=0)
    train(n1, big.data, big.train, big.val, st)
    train(n2, small.data, small.train, small.val, st.replace(memory=2e4))
    for p, q in zip(n1.parameters(), n2.parameters()):
        assert torch.allclose(p, q, rtol=1e-9, atol=1e-12)


def test_lbfgs_on_streamed_derivatives_keeps_its_chunks_and_gives_the_same_numbers(lj_features, monkeypatch):
    """L-BFGS with derivatives on disk and a training draw: chunks read once and kept while they fit, same result."""
    import toolkit.training.data as tdata

    path, _ = lj_features
    big = _exp(path)
    reads = []
    real = tdata.FeatureData._add_forces
    monkeypatch.setattr(tdata.FeatureData, "_add_forces", lambda self, *a, **k: (reads.append(1), real(self, *a, **k)))
    st = TrainSettings(epochs=2, lr=1.0, optimizer="lbfgs", force_weight=1.0, progress=False, restart_period=2,
                       patience=2)
    results = []
    for memory in (None, 3e5, 3e4):   # in memory; on disk, chunks kept; on disk, too small to keep them
        exp = _exp(path, memory=memory)
        exp.data.set_force_sampling(4, resample=True, seed=1)
        nets = exp.new_networks(seed=0)
        reads.clear()
        train(nets, exp.data, exp.train, exp.val, st if memory is None else st.replace(memory=memory))
        results.append((exp.data.derivatives.in_memory, len(reads), [p.detach().clone() for p in nets.parameters()]))
    assert results[0][0] and not results[1][0] and not results[2][0]
    assert results[1][1] < results[2][1]          # kept chunks are not read again in every evaluation
    for _, _, params in results[1:]:
        assert all(torch.allclose(p, q, rtol=1e-9, atol=1e-12) for p, q in zip(params, results[0][2]))


def test_fakes_do_not_copy_the_feature_matrix(lj_features):
    from toolkit.selection.fakes import make_fakes

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[5]), split=(0.5, 0.25, 0.25), dtype=torch.float64)
    aug = make_fakes(exp.data, exp.raw_stats, 4, exp.train, "scalecenter", 0.0, 1.0, seed=0)
    F = exp.data.n_features["Ar"]
    assert aug.values["Ar"].data_ptr() == exp.data.values["Ar"].data_ptr()      # shared, not copied
    assert aug.n_features["Ar"] == F + 4 and aug.extra["Ar"].shape == (4, exp.data.values["Ar"].shape[1])
    b, b0 = aug.batch([2, 7]), exp.data.batch([2, 7])
    assert torch.equal(b.x["Ar"][:F], b0.x["Ar"]) and torch.equal(b.x["Ar"][F:], aug.columns("Ar", aug.rows_of("Ar", [2, 7]))[F:])
    sub = aug.subset_columns({"Ar": [1, F + 2]})
    assert torch.equal(sub.batch([2, 7]).x["Ar"], torch.stack([b.x["Ar"][1], b.x["Ar"][F + 2]]))


@pytest.mark.slow
def test_selection_evaluations_use_budget_sized_batches(lj_features, monkeypatch, tmp_path):
    """Under a small budget every batch of the path (lr finder, lambda_max, training, the evaluations of the
    full model, the penalized and refit models, repeats) holds at most the budget's structures."""
    from toolkit.selection import AdaptiveGroupLasso
    from toolkit.selection.pipeline import _repeats

    path, _ = lj_features
    exp = _exp(path)
    per = {f: bytes_per_structure(exp.data, forces=f) for f in (False, True)}
    memory = 2 * 2.5 * per[True]                      # half of it: 2 structures with forces per step
    cap = {f: structures_per_batch(exp.data, f, memory) for f in (False, True)}
    assert cap[True] == 2 and len(exp.val) == 3 and len(exp.test) == 3
    sizes = []
    real_batch = FeatureData.batch

    def spy(self, structures, forces=False, epoch=None):
        sizes.append((len(structures), bool(forces)))
        return real_batch(self, structures, forces=forces, epoch=epoch)

    monkeypatch.setattr(FeatureData, "batch", spy)
    st = TrainSettings(epochs=1, batch_size=6, lr=None, force_weight=1.0, progress=False, memory=memory)
    agl = AdaptiveGroupLasso(n_lambdas=2, lambda_ratio=0.1, training=st, refit_optimizer="lbfgs").fit(exp)
    assert len(agl.path_) == 2
    _repeats(exp, {"AGL": {"Ar": [0, 1, 2]}}, st.replace(lr=1e-3), 1, tmp_path, echo=lambda m: None, metric="forces")
    assert sizes and max(n for n, f in sizes if f) == cap[True]
    assert all(n <= cap[f] for n, f in sizes), sorted(set(sizes))
    # without the budget the same run uses larger batches (the spy sees them: the test can fail)
    sizes.clear()
    AdaptiveGroupLasso(lambdas=[0.1], training=st.replace(memory=4e9, epochs=1)).fit(exp)
    assert max(n for n, f in sizes if f) > cap[True]


def test_values_on_disk_give_the_same_numbers(lj_features):
    """A budget smaller than the value matrix: values read per batch from the file, bit for bit the in-memory
    numbers (statistics, scaled batches, losses, gradients, column subsets, fakes, training)."""
    from toolkit.selection.fakes import make_fakes
    from toolkit.training.data import DiskValues, held_memory, value_bytes

    path, _ = lj_features
    vb = value_bytes(path, torch.float32)
    assert vb == 12 * 16 * 6 * 4
    assert held_memory(path, torch.float32, 4 * vb) == (2 * vb, vb) and held_memory(path, torch.float32, None)[0] > vb
    # the same budget (chunks of the statistics, batches); half of vb: the values do not fit, unless loaded before
    mk = lambda data: prepare(data, ModelSpec(hidden=[6, 5]), split=(0.5, 0.25, 0.25), dtype=torch.float32,
                              forces=True, memory=vb)
    mem, disk = mk(FeatureData.from_file(path, derivatives=True)), mk(path)
    assert isinstance(disk.data.values["Ar"], DiskValues) and isinstance(mem.data.values["Ar"], torch.Tensor)
    assert disk.data.values["Ar"].shape == mem.data.values["Ar"].shape and disk.data.dtype == torch.float32
    whole = FeatureData.from_file(path).raw_stats(mem.train)      # one chunk; the budget's: one structure each
    for e in mem.raw_stats:
        assert np.array_equal(mem.raw_stats[e], disk.raw_stats[e])
        assert np.allclose(whole[e], disk.raw_stats[e], rtol=1e-12, atol=1e-15)
    idx = np.array([5, 0, 7])
    assert torch.equal(mem.data.batch(idx).x["Ar"], disk.data.batch(idx).x["Ar"])
    assert torch.equal(mem.data.columns("Ar", [9, 3, 4]), disk.data.columns("Ar", [9, 3, 4]))
    st = TrainSettings(force_weight=0.7)
    grads = []
    for exp in (mem, disk):
        nets = exp.new_networks(seed=2)
        loss = _loss_backward(nets, exp.data, exp.train, st, epoch=0, forward=None, micro=2)
        grads.append((float(loss), [p.grad for p in nets.parameters()]))
    assert grads[0][0] == grads[1][0] and all(torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1]))
    keep = {"Ar": [1, 4, 5]}
    sm, sd = mem.data.subset_columns(keep), disk.data.subset_columns(keep)
    assert torch.equal(sm.batch(idx, forces=True).x["Ar"], sd.batch(idx, forces=True).x["Ar"])
    fm, fd = (make_fakes(x.data, x.raw_stats, 3, x.train, "scalecenter", 0.0, 1.0, seed=0) for x in (mem, disk))
    both = {"Ar": [0, 6, 8]}                     # a real column and two fakes
    assert torch.equal(fm.subset_columns(both).batch(idx).x["Ar"], fd.subset_columns(both).batch(idx).x["Ar"])
    run = TrainSettings(epochs=2, batch_size=3, lr=1e-3, force_weight=1.0, progress=False, memory=vb)
    nm, nd = mem.new_networks(seed=0), disk.new_networks(seed=0)   # the same budget: the same (micro-)batches
    rm = train(nm, mem.data, mem.train, mem.val, run)
    rd = train(nd, disk.data, disk.train, disk.val, run)
    assert rm.history == rd.history
    assert all(torch.equal(p, q) for p, q in zip(nm.parameters(), nd.parameters()))


def test_values_on_disk_non_uniform_structures(tmp_path):
    """Structures of different sizes (the segment path of batches): the same energies from disk as from memory."""
    from conftest import lj_boxes
    from toolkit.features import write_feature_file
    from toolkit.structures import Structure
    from toolkit.symfuncs import SymmetryFunctionSet, standard_candidates
    from toolkit.training.data import DiskValues
    from toolkit.training.trainer import predict_energies

    structs = []
    for k, s in enumerate(lj_boxes(8, seed=1)):
        n = 16 - 2 * (k % 3)                     # 16, 14 and 12 atoms
        structs.append(Structure(positions=s.positions[:n], elements=s.elements[:n], cell=s.cell, energy=s.energy))
    path = write_feature_file(tmp_path / "f.h5", structs, SymmetryFunctionSet(
        standard_candidates("Ar", rc=2.0, rc_angular=1.4, n_centered=2, n_shifted=2, zetas=(1,)), ["Ar"]),
        show_progress=False, workers=1)
    mem, disk = (prepare(path, ModelSpec(hidden=[4]), split=(0.5, 0.25, 0.25), memory=m) for m in (None, 1e3))
    assert not mem.data.uniform and isinstance(disk.data.values["Ar"], DiskValues)
    idx = np.array([6, 1, 2])
    bm, bd = mem.data.batch(idx), disk.data.batch(idx)
    assert torch.equal(bm.x["Ar"], bd.x["Ar"]) and torch.equal(bm.seg["Ar"], bd.seg["Ar"])
    nets = mem.new_networks(seed=0)
    assert np.array_equal(predict_energies(nets, mem.data, np.arange(8)), predict_energies(nets, disk.data, np.arange(8)))
