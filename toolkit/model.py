"""The HDNNP as a PyTorch module: symmetry functions -> n2p2 scaling -> one MLP per element.

The total energy of a structure is the sum of atomic energies, each the output
of its element's network on the atom's scaled symmetry functions, converted
from n2p2's internal units:

    E = sum_i NN_{e(i)}(scale(G_i)) / conv_energy + N mean_energy + sum_i atom_energy[e(i)]

(without normalisation ``conv_energy`` = 1 and ``mean_energy`` = 0). Symmetry
functions are computed in the physical units of the data: n2p2 rescales their
parameters with ``conv_length``, which leaves every value unchanged.

Everything is device-agnostic: move the model with ``.to(device)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .n2p2.settings import ACTIVATIONS, NNSettings
from .symfuncs import BatchFeatures, SymFunc, SymmetryFunctionSet, pair_forces
from .symfuncs.scaling import scaling_affine

EXP_LIMIT = 35.0  # n2p2 NeuralNetwork.cpp: logistic/softplus saturate beyond |x| > 35


def activation(letter: str, x: torch.Tensor) -> torch.Tensor:
    """n2p2 activation function by its letter (see :data:`toolkit.n2p2.settings.ACTIVATIONS`)."""
    if letter == "l":
        return x
    if letter == "t":
        return torch.tanh(x)
    if letter == "s":
        return torch.where(x > EXP_LIMIT, torch.ones_like(x),
                           torch.where(x < -EXP_LIMIT, torch.zeros_like(x), torch.sigmoid(x)))
    if letter == "p":
        return torch.where(x > EXP_LIMIT, x, torch.where(x < -EXP_LIMIT, torch.zeros_like(x),
                                                         torch.log1p(torch.exp(x.clamp(max=EXP_LIMIT)))))
    if letter == "r":
        return torch.relu(x)
    if letter == "g":
        return torch.exp(-0.5 * x * x)
    if letter == "c":
        return torch.cos(x)
    if letter == "S":
        return 1.0 - torch.sigmoid(x)
    if letter == "e":
        return torch.exp(-x)
    if letter == "h":
        return x * x
    raise ValueError(f"unknown n2p2 activation letter {letter!r} (known: {' '.join(ACTIVATIONS)})")


class ElementNetwork(nn.Module):
    """One element's feed-forward network, n2p2 style (``normalize_nodes`` divides each pre-activation by the fan-in).

    As in n2p2 (Mode::setupNeuralNetwork), the output neuron is always linear:
    the last letter of ``global_activation_short`` is kept for the file but not applied.
    """

    def __init__(self, layer_sizes: Sequence[int], activations: Sequence[str], normalize_nodes: bool = False,
                 dtype=torch.float64):
        super().__init__()
        if len(activations) != len(layer_sizes) - 1:
            raise ValueError(f"{len(activations)} activations for {len(layer_sizes) - 1} layers")
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
        self.activations = list(activations[:-1]) + ["l"]
        self.normalize_nodes = normalize_nodes

    @property
    def input_layer(self) -> nn.Linear:
        """First layer: its weight column i is the group of feature i (the adaptive group lasso acts on it)."""
        return self.layers[0]

    @property
    def layer_sizes(self) -> list[int]:
        return [self.layers[0].in_features] + [l.out_features for l in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (n,) for atom-major inputs x (n, F)."""
        return self.forward_t(x.T)

    def forward_t(self, xT: torch.Tensor) -> torch.Tensor:
        """Outputs (n,) for feature-major inputs xT (F, n): each layer is one ``addmm`` (W @ h + b).

        The training data are stored feature-major, which makes the first layer one
        wide matrix product (see :mod:`toolkit.training.data`).
        """
        h = xT
        for layer, act in zip(self.layers, self.activations):
            h = torch.addmm(layer.bias[:, None], layer.weight, h)
            if self.normalize_nodes:
                h = h / layer.in_features
            h = activation(act, h)
        return h[0]

    def select_inputs(self, idx: Sequence[int]) -> "ElementNetwork":
        """A copy whose input layer keeps only the columns ``idx`` (in that order); other layers are copied."""
        import copy

        new = copy.deepcopy(self)
        lin = self.layers[0]
        cols = torch.as_tensor(list(idx), dtype=torch.long, device=lin.weight.device)
        # skip_init: no draw from the global generator (seeded under a lock by concurrent initialisations)
        small = nn.utils.skip_init(nn.Linear, len(cols), lin.out_features, dtype=lin.weight.dtype,
                                   device=lin.weight.device)
        with torch.no_grad():
            small.weight.copy_(lin.weight[:, cols])
            small.bias.copy_(lin.bias)
        new.layers[0] = small
        return new


@dataclass
class Prediction:
    """Energies and forces of one structure in the physical units of the data.

    ``virial``: 3x3, LAMMPS convention (W_ab = sum_i r_a f_b, P V = N k T + tr(W)/3), energy units.
    """

    energy: float
    forces: np.ndarray | None
    atomic_energies: np.ndarray
    virial: np.ndarray | None = None


class HDNNP(nn.Module):
    """A Behler-Parrinello potential: symmetry functions, n2p2 scaling and per-element networks.

    Parameters
    ----------
    settings : an :class:`~toolkit.n2p2.NNSettings` (elements, functions, network shapes,
        activations, scaling mode, normalisation, atomic energy offsets).
    scaling : per element (F, 4) arrays of min, max, mean, sigma of the raw functions in
        n2p2's sorted order (``scaling.data``). Required for any scaling mode but "none".
    """

    def __init__(self, settings: NNSettings, scaling: dict[str, np.ndarray] | None = None, dtype=torch.float64):
        super().__init__()
        self.settings = settings
        self.sfset = SymmetryFunctionSet(settings.symfuncs, settings.elements)
        self.elements = list(settings.elements)
        self.networks = nn.ModuleDict({
            e: ElementNetwork(settings.layer_sizes(e), settings.activations, settings.normalize_nodes, dtype)
            for e in self.elements})
        for e in self.elements:
            n = len(self.sfset.by_element[e])
            stats = np.zeros((n, 4)) if scaling is None else np.asarray(scaling[e], dtype=float).reshape(n, 4)
            self.register_buffer(f"scaling_{e}", torch.tensor(stats, dtype=dtype))
        if scaling is not None:
            self.check_scaling()

    # -- description --------------------------------------------------------
    @property
    def symfuncs(self) -> dict[str, list[SymFunc]]:
        """Each element's functions in n2p2's sorted order (= network input order)."""
        return self.sfset.by_element

    @property
    def cutoff(self) -> float:
        return self.sfset.cutoff

    def scaling_stats(self, element: str) -> torch.Tensor:
        """(F, 4) tensor: min, max, mean, sigma of each raw function of ``element``."""
        return getattr(self, f"scaling_{element}")

    def set_scaling(self, stats: dict[str, np.ndarray]) -> None:
        """Replace the scaling statistics (e.g. computed on a training split)."""
        for e in self.elements:
            buf = self.scaling_stats(e)
            buf.copy_(torch.as_tensor(np.asarray(stats[e], dtype=float), dtype=buf.dtype, device=buf.device))
        self.check_scaling()

    def check_scaling(self) -> None:
        """Raise if a function is constant (max == min, or sigma == 0) under a mode that divides by its range."""
        mode = self.settings.scaling
        for e in self.elements:
            st = self.scaling_stats(e)
            if mode in ("scale", "scalecenter"):
                bad = (st[:, 1] - st[:, 0]) == 0
            elif mode == "scalesigma":
                bad = st[:, 3] == 0
            else:
                continue
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                sf = self.symfuncs[e][i]
                raise ValueError(f"symmetry function {i + 1} of {e} ({sf.to_line()}) is constant on the data "
                                 f"(min = max = {float(st[i, 0]):.6g}); scaling would divide by zero: remove it")

    # -- evaluation ---------------------------------------------------------
    def scale(self, element: str, G: torch.Tensor) -> torch.Tensor:
        """n2p2's SymFnc::scale for raw values G (n, F) of ``element`` (:func:`~toolkit.symfuncs.scaling_affine`)."""
        s = self.settings
        a, b = scaling_affine(self.scaling_stats(element).detach().cpu().numpy(), s.scaling, s.scale_min, s.scale_max)
        return G * torch.as_tensor(a, dtype=G.dtype, device=G.device) + torch.as_tensor(b, dtype=G.dtype,
                                                                                        device=G.device)

    def atomic_outputs(self, element: str, G: torch.Tensor) -> torch.Tensor:
        """Network outputs (n2p2 internal energy units) for raw symmetry functions G (n, F)."""
        return self.networks[element](self.scale(element, G))

    def energy_scale(self) -> tuple[float, float]:
        """(conv_energy, mean_energy): E_phys/atom = NN / conv_energy + mean_energy (+ offset)."""
        s = self.settings
        return (s.conv_energy if s.conv_energy is not None else 1.0,
                s.mean_energy if s.mean_energy is not None else 0.0)

    def atomic_energies(self, features: BatchFeatures) -> dict[str, torch.Tensor]:
        """Physical per-atom energies of each element's atoms (offsets included)."""
        conv, mean = self.energy_scale()
        return {e: self.atomic_outputs(e, f.values) / conv + mean + self.settings.atom_energy.get(e, 0.0)
                for e, f in features.per_element.items()}

    def forward(self, features: BatchFeatures) -> torch.Tensor:
        """Total energies (n_structures,) in physical units."""
        per_atom = self.atomic_energies(features)
        ref = next(iter(per_atom.values()))
        energies = torch.zeros(features.n_structures, dtype=ref.dtype, device=ref.device)
        for e, f in features.per_element.items():
            energies = energies.index_add(0, features.structure_index[f.atoms], per_atom[e])
        return energies

    def predict_batch(self, structures, forces: bool = True, virial: bool = False, features=None):
        """Energies (S,), per-atom energies (N,), forces (N, 3) and virials (S, 3, 3) of a batch.

        ``features``: the batch's :class:`BatchFeatures` if already computed (``self.sfset.compute``).
        """
        p = next(self.parameters())
        feats = features if features is not None else \
            self.sfset.compute(structures, derivatives=False, dtype=p.dtype, device=p.device)
        Gs = {e: f.values.detach().requires_grad_(forces or virial) for e, f in feats.per_element.items()}
        for e, f in feats.per_element.items():
            f.values = Gs[e]
        with torch.enable_grad():
            per_atom = self.atomic_energies(feats)
            energies = torch.zeros(feats.n_structures, dtype=p.dtype, device=p.device)
            atomic = torch.zeros(feats.n_atoms, dtype=p.dtype, device=p.device)
            for e, f in feats.per_element.items():
                energies = energies.index_add(0, feats.structure_index[f.atoms], per_atom[e])
                atomic = atomic.index_add(0, f.atoms, per_atom[e])
            F = W = None
            if forces or virial:
                grads = torch.autograd.grad(energies.sum(), [Gs[e] for e in feats.per_element],
                                            allow_unused=True)
                dE = {e: (g if g is not None else torch.zeros_like(Gs[e])) for e, g in zip(feats.per_element, grads)}
                F, W = pair_forces(feats, dE, virial=virial, sfset=self.sfset)
        return energies.detach(), atomic.detach(), (F.detach() if forces else None), \
            (W.detach() if virial else None), feats.structure_index

    def predict(self, structure, forces: bool = True, virial: bool = False) -> Prediction:
        """Energy, per-atom energies, forces and (optionally) the virial of one structure."""
        E, atomic, F, W, _ = self.predict_batch([structure], forces=forces, virial=virial)
        return Prediction(energy=float(E[0]), forces=None if F is None else F.cpu().numpy(),
                          atomic_energies=atomic.cpu().numpy(), virial=None if W is None else W[0].cpu().numpy())

    # -- structure editing ----------------------------------------------------
    def select_features(self, keep: dict[str, Sequence[int]]) -> "HDNNP":
        """A copy restricted to the functions ``keep[element]`` (indices in sorted order).

        The input-layer columns of the dropped functions are removed; all other
        weights, the scaling of the kept functions and the settings carry over.
        """
        import copy

        idx = {e: sorted(int(i) for i in keep[e]) for e in self.elements}
        for e in self.elements:
            if not idx[e]:
                raise ValueError(f"element {e}: at least one symmetry function must be kept")
        settings = copy.deepcopy(self.settings)
        settings.symfuncs = [self.symfuncs[e][i] for e in self.elements for i in idx[e]]
        scaling = {e: self.scaling_stats(e).detach().cpu().numpy()[idx[e]] for e in self.elements}
        p = next(self.parameters())
        new = HDNNP(settings, scaling, dtype=p.dtype).to(p.device)
        new.networks = nn.ModuleDict({e: self.networks[e].select_inputs(idx[e]) for e in self.elements})
        return new

    def n2p2_layers(self, element: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W (n_out, n_in), b (n_out,)), ...] of an element's network, as numpy arrays."""
        return [(l.weight.detach().cpu().numpy().astype(float), l.bias.detach().cpu().numpy().astype(float))
                for l in self.networks[element].layers]

    def load_n2p2_layers(self, element: str, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        net = self.networks[element]
        if len(layers) != len(net.layers):
            raise ValueError(f"{element}: {len(layers)} layers given, network has {len(net.layers)}")
        with torch.no_grad():
            for l, (W, b) in zip(net.layers, layers):
                if tuple(W.shape) != tuple(l.weight.shape):
                    raise ValueError(f"{element}: weight shape {W.shape} != {tuple(l.weight.shape)}")
                l.weight.copy_(torch.as_tensor(W, dtype=l.weight.dtype))
                l.bias.copy_(torch.as_tensor(b, dtype=l.bias.dtype))
