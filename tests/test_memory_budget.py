"""Memory bounded by ``training.memory``, not by the data set: peak RSS of force training in a child process.

The feature file cycles the 40 liquid-Al structures of the n2p2 reference set
(256 atoms, 22 functions, every atom a force atom) three times: 120 structures
whose stored derivatives take 288 MB (float32), 4.5 times the 64 MB budget.
Each training run is a separate process that reports its own peak resident set
(``VmHWM``), so one run's memory cannot hide in another's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MB = 1e6

# The child: imports, loading (prepare), then force training; reports peak RSS after each phase.
CHILD = r"""
import json, sys
import torch
from toolkit.training.experiment import ModelSpec, prepare
from toolkit.training.trainer import TrainSettings, train

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

torch.set_num_threads(1)
# the first AdamW imports torch._dynamo (~70 MB of Python modules): an import, not data
torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], foreach=True)
path, memory = sys.argv[1], float(sys.argv[2])
imports = peak()
exp = prepare(path, ModelSpec(hidden=[10, 10]), split=(0.8, 0.1, 0.1), forces=True, memory=memory)
loaded = peak()
st = TrainSettings(epochs=2, batch_size=16, lr=1e-3, force_weight=1.0, progress=False, memory=memory)
r = train(exp.new_networks(seed=0), exp.data, exp.train, exp.val, st)
print(json.dumps({"imports": imports, "loaded": loaded, "peak": peak(),
                  "in_memory": exp.data.derivatives.in_memory, "derivative_bytes": exp.data.derivatives.size_bytes,
                  "value_bytes": sum(v.numel() * v.element_size() for v in exp.data.values.values()),
                  "val_rmse_forces": r.history[-1]["val_rmse_forces"]}))
"""


@pytest.fixture(scope="module")
def al_derivative_file(shared, tmp_path_factory):
    from toolkit.features import write_feature_file
    from toolkit.n2p2.settings import read_input_nn
    from toolkit.structures import read_n2p2
    from toolkit.symfuncs import SymmetryFunctionSet

    structs = read_n2p2(shared / "al_eam_22" / "input.data")
    nn = read_input_nn(shared / "al_eam_22" / "input.nn")
    path = tmp_path_factory.mktemp("membudget") / "al.h5"
    write_feature_file(path, [structs[k % len(structs)] for k in range(120)], SymmetryFunctionSet(nn.symfuncs, nn.elements),
                       derivatives=True, store_dtype="float32", show_progress=False, workers=1)
    return path


def _train_child(path: Path, memory: float) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(memory)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="peak RSS is read from /proc (Linux)")
def test_force_training_rss_is_bounded_by_the_budget(al_derivative_file):
    """Derivatives 4.5x the budget train within budget + margin; a budget that holds them uses clearly more.

    Measured (torch 2.13, Linux): derivatives 288 MB, values 2.7 MB. Budget 64 MB: peak 25 MB
    above the RSS after loading (92 MB without micro-batches, ~75 MB more with HDF5's default
    chunk cache); budget 4 GB (derivatives loaded): peak 356 MB above the 64 MB run's.
    """
    budget = 64 * MB
    small = _train_child(al_derivative_file, budget)
    big = _train_child(al_derivative_file, 4e9)
    deriv = small["derivative_bytes"]
    assert deriv > 4 * budget and small["value_bytes"] < 0.05 * deriv     # the data set is the derivatives
    assert not small["in_memory"] and big["in_memory"]
    # margin 16 MB: code pages of kernels first used in training, allocator slack
    assert small["peak"] - small["loaded"] < budget + 16 * MB, small
    assert small["peak"] - small["imports"] < deriv / 3, small
    # the same training with the derivatives in memory: more by about their size (the test can fail)
    assert big["peak"] - small["peak"] > 0.8 * deriv, (small, big)
    assert big["val_rmse_forces"] == pytest.approx(small["val_rmse_forces"], rel=1e-4)
