"""Feature files computed by several processes: the same file as one process, and nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_helper_count_follows_the_work(monkeypatch):
    """No helper for a small job; one per HELPER_WORTH start-ups of remaining work, at most cores - 1 and
    at most the idle cores."""
    from toolkit import features

    monkeypatch.setattr(features, "default_workers", lambda: 4)
    monkeypatch.setattr(features.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    start = features.HELPER_START_SECONDS * features.HELPER_WORTH
    assert features.helper_count(None, 0.5 * start) == 0
    assert features.helper_count(None, 1.0 * start) == 1
    assert features.helper_count(None, 2.5 * start) == 2
    assert features.helper_count(None, 100 * start) == 3
    assert features.helper_count(1, 100 * start) == 0       # fixed: this process only
    assert features.helper_count(3, 0.0) == 2                # fixed: two helpers whatever the work
    monkeypatch.setattr(features.os, "getloadavg", lambda: (2.2, 2.0, 2.0))   # two cores busy elsewhere
    assert features.helper_count(None, 100 * start) == 2
    monkeypatch.setattr(features.os, "getloadavg", lambda: (7.5, 7.0, 7.0))   # every core busy
    assert features.helper_count(None, 100 * start) == 0
    assert features.helper_count(2, 100 * start) == 1        # fixed counts ignore the load


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.slow
def test_helpers_write_the_same_file_as_one_process(shared, tmp_path):
    """Chunks computed by two helpers and this process arrive in order: every dataset equals the one-process file."""
    from toolkit.features import write_feature_file
    from toolkit.n2p2.settings import read_input_nn
    from toolkit.structures import read_structures
    from toolkit.symfuncs import SymmetryFunctionSet

    st = read_input_nn(shared / "al_eam_22" / "input.nn")
    sfset = SymmetryFunctionSet(st.symfuncs, st.elements)
    structs = read_structures(shared / "al_eam_22" / "input.data")[:14]
    kw = dict(derivatives=True, force_atoms=5, chunk_atoms=256, show_progress=False)  # one structure per chunk
    write_feature_file(tmp_path / "one.h5", structs, sfset, workers=1, **kw)
    write_feature_file(tmp_path / "three.h5", structs, sfset, workers=3, **kw)
    one, three = _datasets(tmp_path / "one.h5"), _datasets(tmp_path / "three.h5")
    assert sorted(one) == sorted(three)
    for name in one:
        np.testing.assert_array_equal(three[name], one[name], err_msg=name)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table (ps)")
def test_finished_symfuncs_leaves_no_process_behind(shared, tmp_path):
    """After a normal exit with a helper process, no process of the command's process group survives it.

    (multiprocessing's resource tracker used to outlive the command by a moment.)
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "toolkit", "symfuncs", shared / "al_eam_22" / "input.nn",
                          shared / "al_eam_22" / "input.data", "-o", tmp_path / "f.h5", "--workers", "2"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)   # its own process group, id = its pid
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    ps = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True, check=True).stdout
    left = [line.strip() for line in ps.splitlines() if int(line.split()[1]) == p.pid]
    assert left == []
    assert (tmp_path / "f.h5").is_file()


def test_sending_a_function_set_to_a_helper_leaves_its_tensors_alone(shared):
    """A set pickled for a helper (torch's multiprocessing pickler, as the pool's feeder thread does) travels
    as its definitions: none of its tensors is moved into shared memory under a running computation, and
    the rebuilt set computes the same numbers."""
    import io
    from multiprocessing.reduction import ForkingPickler

    import torch

    from toolkit.n2p2.settings import read_input_nn
    from toolkit.structures import read_structures
    from toolkit.symfuncs import SymmetryFunctionSet

    st = read_input_nn(shared / "al_eam_22" / "input.nn")
    sfset = SymmetryFunctionSet(st.symfuncs, st.elements)
    buf = io.BytesIO()
    ForkingPickler(buf).dump(sfset)
    plan_tensors = [x for radial, angular in sfset._plans.values() for g in radial + angular
                    for x in vars(g).values() if isinstance(x, torch.Tensor)]
    assert len(plan_tensors) > 10
    assert not any(x.is_shared() for x in plan_tensors)
    rebuilt = ForkingPickler.loads(buf.getvalue())
    assert rebuilt is not sfset and rebuilt.elements == sfset.elements
    assert [sf for sf in rebuilt.symfuncs()] == sfset.symfuncs()
    s = read_structures(shared / "al_eam_22" / "input.data")[:1]
    np.testing.assert_array_equal(rebuilt.compute(s).per_element["Al"].values.numpy(),
                                  sfset.compute(s).per_element["Al"].values.numpy())
