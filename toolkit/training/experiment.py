"""A prepared training problem: scaled features, splits, normalisation, and conversion to an HDNNP.

:func:`prepare` loads a feature file, splits structures (seeded), computes the
n2p2 scaling statistics and the energy normalisation on the training split
only, and scales the features in place. :meth:`Experiment.new_networks` makes
seeded element networks for any column subset; :meth:`Experiment.to_model`
turns trained networks into a :class:`~toolkit.model.HDNNP` (float64) with the
same scaling, normalisation and functions, ready for ``save_model`` and
``export_n2p2``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ToolkitError
from ..model import HDNNP, ElementNetwork
from ..n2p2.settings import NNSettings
from ..settings import ModelSpec  # the model: section of a config
from .data import FeatureData, held_memory, split_indices

_INIT_LOCK = threading.Lock()


@dataclass
class Experiment:
    data: FeatureData
    spec: ModelSpec
    raw_stats: dict[str, np.ndarray]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    mean_energy: float
    conv_energy: float
    feature_path: Path | None = None

    @property
    def elements(self) -> list[str]:
        return self.data.elements

    def all_columns(self) -> dict[str, list[int]]:
        return {e: list(range(self.data.n_features[e])) for e in self.elements}

    def new_networks(self, n_features: dict[str, int] | None = None, seed: int = 0) -> nn.ModuleDict:
        """Freshly initialised element networks (PyTorch's default init, seeded)."""
        n_features = n_features or self.data.n_features
        with _INIT_LOCK:  # the global generator is seeded: one thread at a time
            gen_state = torch.random.get_rng_state()
            torch.manual_seed(seed)
            nets = nn.ModuleDict({e: ElementNetwork([n_features[e], *self.spec.hidden, 1], self.spec.letters(),
                                                    self.spec.normalize_nodes, dtype=self.data.dtype)
                                  for e in self.elements})
            torch.random.set_rng_state(gen_state)
        return nets.to(self.data.values[self.elements[0]].device)

    def to_model(self, networks: nn.ModuleDict, keep: dict[str, Sequence[int]] | None = None,
                 dtype=torch.float64) -> HDNNP:
        """The HDNNP of networks trained on columns ``keep`` (default all) of the data."""
        keep = keep or self.all_columns()
        sfs, scaling = [], {}
        for e in self.elements:
            idx = sorted(int(i) for i in keep[e])
            if self.data.symfuncs is None or any(self.data.symfuncs[e][i] is None for i in idx):
                raise ToolkitError("only networks on real symmetry functions can become a potential")
            sfs += [self.data.symfuncs[e][i] for i in idx]
            scaling[e] = self.raw_stats[e][idx]
            if networks[e].input_layer.in_features != len(idx):
                raise ToolkitError(f"{e}: network has {networks[e].input_layer.in_features} inputs, "
                                   f"{len(idx)} functions given")
        settings = NNSettings(elements=list(self.elements), symfuncs=sfs,
                              hidden_nodes={e: list(self.spec.hidden) for e in self.elements},
                              activations=self.spec.letters(), scaling=self.spec.scaling,
                              scale_min=self.spec.scale_min, scale_max=self.spec.scale_max,
                              normalize_nodes=self.spec.normalize_nodes, atom_energy=dict(self.spec.atom_energy),
                              mean_energy=self.mean_energy, conv_energy=self.conv_energy, conv_length=1.0,
                              cutoff_type=sfs[0].cutoff_type, cutoff_alpha=sfs[0].cutoff_alpha)
        model = HDNNP(settings, scaling, dtype=dtype)
        for e in self.elements:
            model.load_n2p2_layers(e, [(l.weight.detach().cpu().double().numpy(), l.bias.detach().cpu().double().numpy())
                                       for l in networks[e].layers])
        return model

    def networks_from_model(self, model: HDNNP) -> nn.ModuleDict:
        """Element networks that start from a trained potential's weights (fine-tuning, warm starts).

        ``model`` must use the data's functions (matched by label, any order), the same
        hidden layers and activations, and a linear output. Its first layer and output
        are transformed exactly from its own input scaling and energy normalisation to
        this experiment's, so the networks predict what ``model`` predicts.
        """
        from .data import scaling_affine

        if model.settings.normalize_nodes or self.spec.normalize_nodes:
            raise ToolkitError("warm start from a potential: not with normalize_nodes")
        letters = self.spec.letters()
        if list(model.settings.activations) != letters or letters[-1] != "l":
            raise ToolkitError(f"warm start: the potential's activations {model.settings.activations} differ from "
                               f"the model's {letters} (or the output is not linear)")
        nets = self.new_networks()
        conv_old, mean_old = model.energy_scale()
        conv_new, mean_new = self.conv_energy, self.mean_energy
        if dict(model.settings.atom_energy or {}) != dict(self.spec.atom_energy or {}):
            raise ToolkitError("warm start: the potential's atom_energy offsets differ from the model's")
        for e in self.elements:
            labels = [sf.label() for sf in model.symfuncs.get(e, [])]
            missing = [n for n in self.data.names[e] if n not in labels]
            if missing or len(labels) != len(self.data.names[e]):
                raise ToolkitError(f"warm start: element {e}: the potential's functions differ from the data's "
                                   f"({missing[0] if missing else 'different number'})")
            order = [labels.index(n) for n in self.data.names[e]]
            layers = model.n2p2_layers(e)
            if [W.shape[0] for W, _ in layers[:-1]] != list(self.spec.hidden):
                raise ToolkitError(f"warm start: element {e}: hidden layers {[W.shape[0] for W, _ in layers[:-1]]} "
                                   f"differ from the model's {list(self.spec.hidden)}")
            a_old, b_old = scaling_affine(model.scaling_stats(e).cpu().numpy()[order], model.settings.scaling,
                                          model.settings.scale_min, model.settings.scale_max)
            a_new, b_new = (np.asarray(self.data.scale_a[e]), np.asarray(self.data.scale_b[e])) \
                if self.data.scale_a is not None else (np.ones(len(order)), np.zeros(len(order)))
            # x_old = a_old G + b_old = r x_new + (b_old - r b_new),  r = a_old / a_new
            r = a_old / a_new
            W1, c1 = layers[0][0][:, order], layers[0][1]
            layers[0] = (W1 * r[None, :], c1 + W1 @ (b_old - r * b_new))
            # per-atom energy: y_old / conv_old + mean_old = y_new / conv_new + mean_new
            WL, cL = layers[-1]
            layers[-1] = (WL * conv_new / conv_old, conv_new * (cL / conv_old + mean_old - mean_new))
            with torch.no_grad():
                for l, (W, b) in zip(nets[e].layers, layers):
                    l.weight.copy_(torch.as_tensor(W, dtype=l.weight.dtype))
                    l.bias.copy_(torch.as_tensor(b, dtype=l.bias.dtype))
        return nets

    def settings_dict(self) -> dict:
        return {"mean_energy": self.mean_energy, "conv_energy": self.conv_energy,
                "n_train": len(self.train), "n_val": len(self.val), "n_test": len(self.test),
                "feature_file": str(self.feature_path) if self.feature_path else None}


def prepare(data: FeatureData | str | Path, spec: ModelSpec, split=(0.8, 0.1, 0.1), split_seed: int = 0,
            dtype=torch.float32, forces: bool = False, device=None, memory: float | None = None,
            train_tail: int = 0, tail_weight: float = 1.0, tail_weight_structures: int | None = None) -> Experiment:
    """Load (if a path), split, compute training-split scaling and normalisation, scale in place.

    ``memory`` (bytes, ``training.memory``): values and derivatives stay in the file unless they
    fit in half of it (:func:`~toolkit.training.data.held_memory`); the statistics are accumulated
    in chunks that fit in the other half. None: everything loaded (derivatives up to 4 GB).
    ``tail_weight``: the loss weight of the last ``tail_weight_structures`` structures (None:
    ``train_tail``; :meth:`~toolkit.training.data.FeatureData.set_structure_weights`)."""
    path = None
    if not isinstance(data, FeatureData):
        path = Path(data)
        value_memory, derivative_memory = held_memory(path, dtype, memory)
        data = FeatureData.from_file(path, dtype=dtype, derivatives=forces, derivative_memory=derivative_memory,
                                     value_memory=value_memory)
    spec.letters()
    train, val, test = split_indices(data.n_structures, split, split_seed, train_tail)
    n_weighted = train_tail if tail_weight_structures is None else tail_weight_structures
    if tail_weight != 1.0 and n_weighted > 0:
        if n_weighted > data.n_structures:
            raise ToolkitError(f"training.tail_weight_structures: {n_weighted} of {data.n_structures} structures")
        weights = np.ones(data.n_structures)
        weights[data.n_structures - n_weighted:] = tail_weight
        data.set_structure_weights(weights)
    raw_stats = data.raw_stats(train, memory=memory)
    data.apply_scaling(raw_stats, spec.scaling, spec.scale_min, spec.scale_max)
    mean_e, conv_e = data.energy_normalisation(train, spec.atom_energy)
    data.set_normalisation(mean_e, conv_e, spec.atom_energy)
    if device is not None:
        data.to(device)
    return Experiment(data=data, spec=spec, raw_stats=raw_stats, train=train, val=val, test=test,
                      mean_energy=mean_e, conv_energy=conv_e, feature_path=path)
