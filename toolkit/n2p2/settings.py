"""n2p2's ``input.nn``: read every keyword the short-range potential needs, write it back.

Keywords understood (n2p2 names): ``number_of_elements``, ``elements``,
``atom_energy``, ``cutoff_type`` (with optional alpha),
``scale_symmetry_functions``, ``center_symmetry_functions``,
``scale_symmetry_functions_sigma``, ``scale_min_short``, ``scale_max_short``,
``global_hidden_layers_short``, ``global_nodes_short``,
``global_activation_short``, ``element_nodes_short``, ``normalize_nodes``,
``mean_energy``, ``conv_energy``, ``conv_length``, ``symfunction_short``.
Every other keyword (training settings, ...) is kept verbatim in
:attr:`NNSettings.extra` so that a read/write round trip loses nothing.

Keywords n2p2 does not know are reported as warnings naming them and their line
(n2p2 warns too); a near-miss of a keyword that changes the numbers (e.g.
``scale_symmetry_function`` for ``scale_symmetry_functions``, which would
silently change the scaling mode) is an error, as are 4G-HDNNP settings
(``nnp_generation``/``nnp_type`` other than 2, electrostatics), which the
toolkit does not implement. Lines are UTF-8 (a byte-order mark is ignored),
fields separated by any whitespace; ``#`` and ``!`` start comments, as in n2p2.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError, InputWarning
from ..fileio import atomic_write, text_lines
from ..structures import atomic_number, sort_elements
from ..symfuncs.definitions import SymFunc, group_by_element, parse_symfunction
from ..symfuncs.scaling import SCALING_MODES  # noqa: F401  (n2p2's SymFnc::ScalingType names)

#: n2p2 activation letters (NeuralNetwork::ActivationFunction).
ACTIVATIONS = {
    "l": "identity", "t": "tanh", "s": "logistic", "p": "softplus", "r": "relu",
    "g": "gaussian", "c": "cos", "S": "revlogistic", "e": "exp", "h": "harmonic",
}


_HANDLED = {
    "number_of_elements", "elements", "atom_energy", "cutoff_type", "scale_symmetry_functions",
    "center_symmetry_functions", "scale_symmetry_functions_sigma", "scale_min_short", "scale_max_short",
    "global_hidden_layers_short", "global_nodes_short", "global_activation_short", "element_nodes_short",
    "normalize_nodes", "mean_energy", "conv_energy", "conv_length", "symfunction_short",
}


#: Every keyword n2p2 (2.x) knows, prediction, training and 4G; others are warned about.
N2P2_KEYWORDS = _HANDLED | {
    "nnp_type", "nn_type", "nnp_generation", "random_seed", "test_fraction", "epochs", "use_short_forces",
    "rmse_threshold", "rmse_threshold_energy", "rmse_threshold_force", "rmse_threshold_charge",
    "rmse_threshold_trials", "rmse_threshold_trials_energy", "rmse_threshold_trials_force",
    "rmse_threshold_trials_charge", "energy_fraction", "force_fraction", "charge_fraction",
    "use_old_weights_short", "use_old_weights_charge", "weights_min", "weights_max",
    "nguyen_widrow_weights_short", "nguyen_widrow_weights_charge", "precondition_weights", "main_error_metric",
    "write_trainpoints", "write_trainforces", "write_traincharges", "write_weights_epoch", "write_neuronstats",
    "write_trainlog", "repeated_energy_update", "updater_type", "parallel_mode", "jacobian_mode",
    "update_strategy", "selection_mode", "selection_mode_energy", "selection_mode_force", "selection_mode_charge",
    "task_batch_size_energy", "task_batch_size_force", "task_batch_size_charge", "gradient_type", "gradient_eta",
    "gradient_adam_eta", "gradient_adam_beta1", "gradient_adam_beta2", "gradient_adam_epsilon", "kalman_type",
    "kalman_epsilon", "kalman_eta", "kalman_etatau", "kalman_etamax", "kalman_q0", "kalman_qtau", "kalman_qmin",
    "kalman_lambda_short", "kalman_nue_short", "kalman_lambda_charge", "kalman_nue_charge",
    "memorize_symfunc_results", "force_weight", "short_energy_error_threshold", "short_force_error_threshold",
    "short_energy_fraction", "short_force_fraction", "normalize_data_set", "force_energy_ratio",
    "write_symfunctions", "debug_mode", "training_log_format",
    # 4G-HDNNP (charges and electrostatics): known to n2p2, refused by the toolkit
    "use_electrostatics", "symfunction_electrostatic", "global_hidden_layers_electrostatic",
    "global_nodes_electrostatic", "global_activation_electrostatic", "element_nodes_electrostatic",
    "ewald_prec", "ewald_truncation_error_method", "screen_electrostatics", "fixed_gausswidth", "four_pt_sum",
    "initial_hardness", "kalman_lambda_electrostatic", "kalman_nue_electrostatic",
}

_FOURTH_GENERATION = {"use_electrostatics", "symfunction_electrostatic", "global_hidden_layers_electrostatic",
                      "global_nodes_electrostatic", "global_activation_electrostatic", "element_nodes_electrostatic",
                      "ewald_prec", "screen_electrostatics", "fixed_gausswidth"}


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def misspelt_keyword(key: str) -> str | None:
    """The keyword that changes the numbers which ``key`` (unknown to n2p2) most likely misspells, or ``None``.

    Close means: equal ignoring case, or at most 2 edits (3 for keywords of 10+ letters).
    """
    best, best_d = None, None
    for known in sorted(_HANDLED):
        d = _edit_distance(key.lower(), known)
        if d <= (3 if len(known) >= 10 else 2) and (best_d is None or d < best_d):
            best, best_d = known, d
    return best


def _settings_lines(path: Path):
    """``(line number, keyword, args)`` of an n2p2 settings file (comments ``#``/``!`` removed)."""
    for lineno, text in text_lines(path):
        line = text.split("#", 1)[0].split("!", 1)[0].strip()
        if line:
            key, *args = line.split()
            yield lineno, key, args


@dataclass
class NNSettings:
    """The short-range HDNNP definition of an ``input.nn``.

    ``elements`` are sorted by atomic number (n2p2's element order).
    ``symfuncs`` are in file order; :meth:`symfuncs_by_element` gives n2p2's sorted order.
    ``hidden_nodes[element]`` lists the hidden-layer widths of that element's network;
    ``activations`` has one letter per hidden layer plus one for the output layer.
    Normalisation (``mean_energy`` [energy/atom], ``conv_energy`` [1/energy],
    ``conv_length`` [1/length]) is ``None`` when absent.
    """

    elements: list[str]
    symfuncs: list[SymFunc]
    hidden_nodes: dict[str, list[int]]
    activations: list[str]
    cutoff_type: int = 1
    cutoff_alpha: float = 0.0
    scaling: str = "scalecenter"
    scale_min: float = 0.0
    scale_max: float = 1.0
    normalize_nodes: bool = False
    atom_energy: dict[str, float] = field(default_factory=dict)
    mean_energy: float | None = None
    conv_energy: float | None = None
    conv_length: float | None = None
    extra: list[tuple[str, str]] = field(default_factory=list)

    @property
    def normalized(self) -> bool:
        return self.mean_energy is not None or self.conv_energy is not None or self.conv_length is not None

    def symfuncs_by_element(self) -> dict[str, list[SymFunc]]:
        return group_by_element(self.symfuncs, self.elements)

    def layer_sizes(self, element: str) -> list[int]:
        """Neurons per layer of an element's network, input layer (number of SFs) first."""
        n_in = sum(1 for sf in self.symfuncs if sf.element == element)
        return [n_in, *self.hidden_nodes[element], 1]


class _Keywords:
    """The keyword lines of an ``input.nn``: single keywords, repeatable ones and the rest (kept verbatim)."""

    MULTI = ("atom_energy", "element_nodes_short", "symfunction_short")

    def __init__(self, path: Path, warn_unknown: bool = True):
        self.path = path
        self.kv: dict[str, tuple[int, list[str]]] = {}
        self.multi: dict[str, list[tuple[int, list[str]]]] = {k: [] for k in self.MULTI}
        self.extra: list[tuple[str, str]] = []
        for lineno, key, args in _settings_lines(path):
            if key in self.multi:
                self.multi[key].append((lineno, args))
            elif key in _HANDLED:
                if key in self.kv:
                    raise InputFileError(path, lineno, f"keyword '{key}' appears twice (first on line "
                                                       f"{self.kv[key][0]})")
                self.kv[key] = (lineno, args)
            else:
                _check_other_keyword(path, lineno, key, args, warn_unknown)
                self.extra.append((key, " ".join(args)))

    def need(self, key: str) -> tuple[int, list[str]]:
        if key not in self.kv:
            raise InputFileError(self.path, None, f"required keyword '{key}' is missing")
        return self.kv[key]

    def number(self, key: str, cast=float, default=None):
        if key not in self.kv:
            return default
        lineno, args = self.kv[key]
        if len(args) != 1:
            raise InputFileError(self.path, lineno, f"'{key}' takes exactly one value")
        try:
            return cast(args[0])
        except ValueError:
            raise InputFileError(self.path, lineno, f"'{key}': cannot read {args[0]!r} as {cast.__name__}") from None


def _check_other_keyword(path: Path, lineno: int, key: str, args: list[str], warn: bool) -> None:
    """A keyword the toolkit does not use: refuse near-misses and 4G settings, warn about unknown ones."""
    if key in ("nnp_generation", "nnp_type", "nn_type") and args and args[0] not in ("2", "1"):
        raise InputFileError(path, lineno, f"'{key} {args[0]}': only short-range (2nd-generation) HDNNPs are "
                                           "supported, not charges/electrostatics (4G-HDNNP)")
    if key in _FOURTH_GENERATION:
        raise InputFileError(path, lineno, f"'{key}' is a 4G-HDNNP (electrostatics) keyword; only short-range "
                                           "HDNNPs are supported")
    if key in N2P2_KEYWORDS:
        return
    near = misspelt_keyword(key)
    if near is not None:
        raise InputFileError(path, lineno, f"unknown keyword '{key}': did you mean '{near}'? (n2p2 keywords are "
                                           "case-sensitive; ignoring it would change the potential's numbers)")
    if warn:
        warnings.warn(InputWarning(f"{path}, line {lineno}: unknown keyword '{key}' is ignored (as n2p2 does)"),
                      stacklevel=4)


def read_input_nn(path: str | os.PathLike, warn_unknown: bool = True) -> NNSettings:
    """Parse an n2p2 ``input.nn``; errors name the file and line.

    Keywords unknown to n2p2 give an :class:`~toolkit.errors.InputWarning`
    (unless ``warn_unknown`` is false) and are kept in :attr:`NNSettings.extra`;
    near-misses of keywords that change the numbers raise :class:`InputFileError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, None, "file not found")
    if path.is_dir():
        raise InputFileError(path, None, "is a folder, expected an n2p2 input.nn file")
    kw = _Keywords(path, warn_unknown)
    elements = _elements(kw)
    cutoff_type, cutoff_alpha = _cutoff(kw)
    scaling = _scaling_mode(kw)
    hidden_nodes, acts = _networks(kw, elements)
    atom_energy = _atom_energies(kw, elements)
    symfuncs = _symfuncs(kw, elements, cutoff_type, cutoff_alpha)
    settings = NNSettings(
        elements=elements, symfuncs=symfuncs, hidden_nodes=hidden_nodes, activations=list(acts),
        cutoff_type=cutoff_type, cutoff_alpha=cutoff_alpha, scaling=scaling,
        scale_min=kw.number("scale_min_short", float, 0.0), scale_max=kw.number("scale_max_short", float, 1.0),
        normalize_nodes="normalize_nodes" in kw.kv, atom_energy=atom_energy,
        mean_energy=kw.number("mean_energy"), conv_energy=kw.number("conv_energy"),
        conv_length=kw.number("conv_length"), extra=kw.extra,
    )
    try:
        settings.symfuncs_by_element()
    except ValueError as exc:
        raise InputFileError(path, None, str(exc)) from None
    for e in elements:
        if not any(sf.element == e for sf in symfuncs):
            raise InputFileError(path, None, f"element {e} has no symmetry functions")
    return settings


def _elements(kw: _Keywords) -> list[str]:
    """``elements`` sorted by atomic number (n2p2's order), checked against ``number_of_elements``."""
    lineno, el_args = kw.need("elements")
    for e in el_args:
        try:
            atomic_number(e)
        except KeyError:
            raise InputFileError(kw.path, lineno, f"unknown element {e!r}") from None
    elements = sort_elements(el_args)
    if len(elements) != len(el_args):
        raise InputFileError(kw.path, lineno, "an element is listed twice")
    n_el = kw.number("number_of_elements", int)
    if n_el is not None and n_el != len(elements):
        raise InputFileError(kw.path, kw.kv["number_of_elements"][0],
                             f"number_of_elements is {n_el} but 'elements' lists {len(elements)}")
    return elements


def _cutoff(kw: _Keywords) -> tuple[int, float]:
    """(cutoff_type, alpha) of ``cutoff_type <type> [alpha]``; default (1, 0)."""
    if "cutoff_type" not in kw.kv:
        return 1, 0.0
    lineno, args = kw.kv["cutoff_type"]
    try:
        cutoff_type = int(args[0])
        cutoff_alpha = float(args[1]) if len(args) > 1 else 0.0
    except (ValueError, IndexError):
        raise InputFileError(kw.path, lineno, "usage: cutoff_type <integer> [alpha]") from None
    if cutoff_type not in range(9):
        raise InputFileError(kw.path, lineno, f"unknown cutoff_type {cutoff_type} (n2p2 knows 0 to 8)")
    if not 0.0 <= cutoff_alpha < 1.0:
        raise InputFileError(kw.path, lineno, f"cutoff alpha must satisfy 0 <= alpha < 1, got {cutoff_alpha}")
    return cutoff_type, cutoff_alpha


def _scaling_mode(kw: _Keywords) -> str:
    """n2p2's scaling type from the keywords present (one of :data:`SCALING_MODES`)."""
    scale = "scale_symmetry_functions" in kw.kv
    center = "center_symmetry_functions" in kw.kv
    sigma = "scale_symmetry_functions_sigma" in kw.kv
    if sigma and (scale or center):
        raise InputFileError(kw.path, kw.kv["scale_symmetry_functions_sigma"][0],
                             "scale_symmetry_functions_sigma cannot be combined with scale_/center_symmetry_functions")
    return "scalesigma" if sigma else {(False, False): "none", (True, False): "scale",
                                       (False, True): "center", (True, True): "scalecenter"}[(scale, center)]


def _networks(kw: _Keywords, elements: list[str]) -> tuple[dict[str, list[int]], list[str]]:
    """(hidden-layer widths per element, activation letters: hidden layers and output)."""
    path = kw.path
    n_hidden = kw.number("global_hidden_layers_short", int)
    if n_hidden is None:
        raise InputFileError(path, None, "required keyword 'global_hidden_layers_short' is missing")
    lineno, node_args = kw.need("global_nodes_short")
    try:
        nodes = [int(x) for x in node_args]
    except ValueError:
        raise InputFileError(path, lineno, "global_nodes_short needs integers") from None
    if len(nodes) != n_hidden:
        raise InputFileError(path, lineno, f"global_nodes_short lists {len(nodes)} layers, "
                                           f"global_hidden_layers_short says {n_hidden}")
    lineno, acts = kw.need("global_activation_short")
    if len(acts) != n_hidden + 1:
        raise InputFileError(path, lineno, f"global_activation_short needs {n_hidden + 1} letters "
                                           f"(hidden layers + output), found {len(acts)}")
    for a in acts:
        if a not in ACTIVATIONS:
            raise InputFileError(path, lineno, f"unknown activation {a!r} (n2p2 letters: {' '.join(ACTIVATIONS)})")
    hidden_nodes = {e: list(nodes) for e in elements}
    for lineno, args in kw.multi["element_nodes_short"]:
        try:
            e, layer, n = args[0], int(args[1]), int(args[2])
        except (ValueError, IndexError):
            raise InputFileError(path, lineno, "usage: element_nodes_short <element> <layer> <nodes>") from None
        if e not in hidden_nodes:
            raise InputFileError(path, lineno, f"element {e!r} is not in 'elements'")
        if not 1 <= layer <= n_hidden:
            raise InputFileError(path, lineno, f"layer {layer} is not a hidden layer (1..{n_hidden})")
        hidden_nodes[e][layer - 1] = n
    return hidden_nodes, acts


def _atom_energies(kw: _Keywords, elements: list[str]) -> dict[str, float]:
    atom_energy = {}
    for lineno, args in kw.multi["atom_energy"]:
        if len(args) != 2 or args[0] not in elements:
            raise InputFileError(kw.path, lineno, "usage: atom_energy <element of 'elements'> <energy>")
        try:
            atom_energy[args[0]] = float(args[1])
        except ValueError:
            raise InputFileError(kw.path, lineno, f"cannot read energy {args[1]!r}") from None
    return atom_energy


def _symfuncs(kw: _Keywords, elements: list[str], cutoff_type: int, cutoff_alpha: float) -> list[SymFunc]:
    symfuncs = []
    for lineno, args in kw.multi["symfunction_short"]:
        sf = parse_symfunction(" ".join(args), cutoff_type, cutoff_alpha, path=kw.path, lineno=lineno)
        if sf.element not in elements or any(n not in elements for n in sf.neighbors):
            raise InputFileError(kw.path, lineno, f"symmetry function uses an element not listed in 'elements' "
                                                  f"({' '.join(elements)})")
        symfuncs.append(sf)
    if not symfuncs:
        raise InputFileError(kw.path, None, "no symfunction_short lines")
    return symfuncs


def _f(x: float) -> str:
    return f"{x:.16E}"


def format_input_nn(s: NNSettings, comment: str | None = None) -> str:
    """``input.nn`` text for a settings object (n2p2 keywords, full double precision)."""
    out = []
    if comment:
        out += [f"# {line}" for line in comment.splitlines()]
        out.append("")
    if s.normalized:
        out.append("# Normalisation of energies and lengths (n2p2 internal units).")
        if s.mean_energy is not None:
            out.append(f"mean_energy {_f(s.mean_energy)}")
        if s.conv_energy is not None:
            out.append(f"conv_energy {_f(s.conv_energy)}")
        if s.conv_length is not None:
            out.append(f"conv_length {_f(s.conv_length)}")
        out.append("")
    out.append(f"number_of_elements {len(s.elements)}")
    out.append("elements " + " ".join(s.elements))
    for e, v in s.atom_energy.items():
        out.append(f"atom_energy {e} {_f(v)}")
    out.append(f"cutoff_type {s.cutoff_type}" + (f" {s.cutoff_alpha!r}" if s.cutoff_alpha else ""))
    if s.scaling in ("scale", "scalecenter"):
        out.append("scale_symmetry_functions")
    if s.scaling in ("center", "scalecenter"):
        out.append("center_symmetry_functions")
    if s.scaling == "scalesigma":
        out.append("scale_symmetry_functions_sigma")
    out.append(f"scale_min_short {s.scale_min!r}")
    out.append(f"scale_max_short {s.scale_max!r}")
    first = s.hidden_nodes[s.elements[0]]
    out.append(f"global_hidden_layers_short {len(first)}")
    out.append("global_nodes_short " + " ".join(str(n) for n in first))
    out.append("global_activation_short " + " ".join(s.activations))
    for e in s.elements[1:]:
        for layer, (n, n0) in enumerate(zip(s.hidden_nodes[e], first), start=1):
            if n != n0:
                out.append(f"element_nodes_short {e} {layer} {n}")
    if s.normalize_nodes:
        out.append("normalize_nodes")
    for key, args in s.extra:
        out.append(f"{key} {args}".rstrip())
    out.append("")
    out.append("# Symmetry functions (n2p2 sorts them per element: the order of scaling.data")
    out.append("# and of the network inputs is the sorted order, not this line order).")
    for sf in s.symfuncs:
        out.append(sf.to_line())
    return "\n".join(out) + "\n"


def write_input_nn(path: str | os.PathLike, settings: NNSettings, comment: str | None = None) -> Path:
    """Write ``input.nn`` atomically."""
    with atomic_write(path) as fh:
        fh.write(format_input_nn(settings, comment))
    return Path(path)
