"""The two steps of the Python workflow that are not one existing function: features in, a model out.

Everything else the public API offers (``from toolkit import ...``, see
``docs/api.md``) is re-exported from its own module.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch

from .model import HDNNP
from .structures import Structure
from .symfuncs import SymFunc, SymmetryFunctionSet
from .training.data import FeatureData
from .training.experiment import Experiment
from .training.trainer import TrainSettings, evaluate, train


def compute_features(structures: Sequence[Structure], symfuncs: SymmetryFunctionSet | Sequence[SymFunc],
                     path: str | os.PathLike, derivatives: bool = False, store_dtype: str = "float32",
                     dtype=torch.float32, show_progress: bool = False, workers: int | None = None) -> FeatureData:
    """The symmetry functions of every atom of ``structures``, stored in the HDF5 file ``path`` and loaded.

    ``symfuncs``: a :class:`~toolkit.symfuncs.SymmetryFunctionSet` or a list of
    functions (the elements are then those of the structures). ``derivatives``:
    also store dG/dr and load the reference forces (needed for training on forces).
    The file is the one ``hdnnp`` commands use (``data.features``); reuse it with
    ``FeatureData.from_file(path, derivatives=...)``.
    """
    from .features import write_feature_file

    structures = list(structures)
    if not isinstance(symfuncs, SymmetryFunctionSet):
        elements = sorted({e for s in structures for e in s.elements})
        symfuncs = SymmetryFunctionSet(list(symfuncs), elements)
    write_feature_file(path, structures, symfuncs, derivatives=derivatives, store_dtype=store_dtype,
                       show_progress=show_progress, workers=workers)
    return FeatureData.from_file(path, dtype=dtype, derivatives=derivatives)


def train_model(experiment: Experiment, training: TrainSettings | None = None,
                checkpoint: str | os.PathLike | None = None) -> tuple[HDNNP, dict]:
    """Train networks on all columns of a prepared experiment; returns the potential and its errors.

    For a selected set train on ``selector.transform(experiment)``. ``training``
    defaults to :class:`~toolkit.training.TrainSettings` without progress bars;
    ``checkpoint``: a file to write and resume from. The errors dict has ``val``
    and ``test`` entries of :func:`toolkit.training.evaluate` (``rmse_energy`` per
    atom and, with force training, ``rmse_forces`` per component, in the data's units).
    """
    st = training if training is not None else TrainSettings(progress=False)
    exp = experiment
    nets = exp.new_networks(seed=st.seed)
    train(nets, exp.data, exp.train, exp.val, st, checkpoint=checkpoint, label="train")
    forces = st.force_weight > 0
    rmse = {"val": evaluate(nets, exp.data, exp.val, forces=forces, memory=st.memory_bytes),
            "test": evaluate(nets, exp.data, exp.test, forces=forces, memory=st.memory_bytes) if len(exp.test) else {}}
    return exp.to_model(nets), rmse
