"""The typed settings model: one dataclass per config section, the schema of every key.

Each field carries its type (the annotation), its default, its allowed range
or choices and its documentation (:func:`option`); nothing else lists the keys.
:func:`toolkit.config.load_config` builds a :class:`Config` from a YAML file
with :func:`from_dict`; the CLI, the pipelines and the demo read the objects.
The key tables of ``docs/reference.md`` are generated from these classes
(:mod:`toolkit.settings_docs`). A new option is one new field here.

Every section validates itself on construction (:meth:`_Section.__post_init__`):
types, ranges and choices of each key, then the section's own consistency rules;
:meth:`Config.__post_init__` checks the rules that span sections. Errors are
:class:`SettingsError` naming ``section.key``; :func:`from_dict` turns them into
:class:`~toolkit.errors.InputFileError` naming the file too.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .errors import InputFileError, ToolkitError
from .n2p2.settings import ACTIVATIONS, SCALING_MODES


class SettingsError(ToolkitError, ValueError):
    """A bad settings value; ``key`` is ``section.key``."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.reason = message
        super().__init__(message)


def option(default: Any = MISSING, doc: str = "", *, factory: Callable[[], Any] | None = None,
           choices: tuple | None = None, ge: float | None = None, gt: float | None = None,
           le: float | None = None, check: tuple[Callable[[Any], bool], str] | None = None,
           unit: str = "", results: bool = True, path: bool = False):
    """A settings field.

    ``doc``: one line of documentation; ``choices``: allowed values; ``ge``/``gt``/``le``:
    bounds of every number in the value (of each item of a list); ``check``: (predicate,
    rule text) for anything else; ``unit``: shown in the docs; ``results``: False for keys
    that do not change the results (progress bars, threads), which a resumed run may change;
    ``path``: a file or folder, relative to the config file's folder.
    """
    meta = {"doc": doc, "choices": choices, "ge": ge, "gt": gt, "le": le, "check": check, "unit": unit,
            "results": results, "path": path}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------------------
# validation of one value against its field
# ---------------------------------------------------------------------------

class _Bad(Exception):
    pass


def _type_name(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping of {_type_name(args[1])}"
    if is_dataclass(hint):
        return "mapping"
    return {"str": "string", "int": "integer", "float": "number", "bool": "true/false"}.get(hint.__name__,
                                                                                          hint.__name__)


def _coerce(hint, value, key: str):
    """``value`` as the type ``hint`` (ints become floats, lists tuples where declared) or :class:`_Bad`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, key)
            except _Bad:
                pass
        raise _Bad()
    if hint is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Bad()
        items = [_coerce(args[0], v, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _Bad()
        return {k: _coerce(args[1], v, key) for k, v in value.items()}
    if is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise _Bad()
        return _build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Bad()
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad()
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad()
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Bad()
        return value
    raise _Bad()


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)


def _range_rule(meta: dict) -> str:
    parts = []
    if meta["gt"] is not None:
        parts.append(f"> {meta['gt']:g}")
    if meta["ge"] is not None:
        parts.append(f">= {meta['ge']:g}")
    if meta["le"] is not None:
        parts.append(f"<= {meta['le']:g}")
    return " and ".join(parts)


def rule_text(f) -> str:
    """The allowed values of a field, as the docs and the error messages state them."""
    meta = f.metadata
    if meta.get("choices"):
        return ", ".join(str(c) for c in meta["choices"])
    if meta.get("check"):
        return meta["check"][1]
    return _range_rule(meta)


def _check_value(f, hint, value, key: str):
    """``value`` coerced to the field's type and checked against its range; raises :class:`SettingsError`."""
    meta = f.metadata
    try:
        value = _coerce(hint, value, key)
    except _Bad:
        raise SettingsError(key, f"'{key}' must be {_type_name(hint)} ({meta['doc']}), got {value!r}") from None
    if value is None:
        return value
    if meta["choices"] is not None and value not in meta["choices"]:
        hint_ = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
        raise SettingsError(key, f"'{key}' must be one of {', '.join(map(str, meta['choices']))}, got {value!r}"
                            + (f" (did you mean '{hint_[0]}'?)" if hint_ else ""))
    for x in _numbers(value):
        bad = (not math.isfinite(x) or (meta["gt"] is not None and not x > meta["gt"])
               or (meta["ge"] is not None and not x >= meta["ge"]) or (meta["le"] is not None and not x <= meta["le"]))
        if bad:
            raise SettingsError(key, f"'{key}' must be {_range_rule(meta) or 'finite'} ({meta['doc']}), got {value!r}")
    if meta["check"] is not None:
        fn, rule = meta["check"]
        try:
            ok = fn(value)
        except Exception:
            ok = False
        if not ok:
            raise SettingsError(key, f"'{key}': {rule}, got {value!r}")
    return value


@functools.lru_cache(maxsize=None)
def section_hints(cls) -> dict:
    """The resolved type annotations of a section class."""
    return typing.get_type_hints(cls, globalns=globals())


_hints = section_hints


def _build(cls, raw: dict, prefix: str):
    """An instance of the section ``cls`` from a mapping; unknown keys are :class:`SettingsError`."""
    names = [f.name for f in fields(cls) if f.init]
    for k in raw:
        if k not in names:
            hint = difflib.get_close_matches(str(k), names, n=1)
            raise SettingsError(f"{prefix}.{k}", f"unknown key '{prefix}.{k}'"
                                + (f" (did you mean '{prefix}.{hint[0]}'?)" if hint else f" (known: {', '.join(names)})"))
    missing = [f.name for f in fields(cls) if f.init and f.default is MISSING and f.default_factory is MISSING
               and f.name not in raw]
    if missing:
        raise SettingsError(f"{prefix}.{missing[0]}", f"missing key '{prefix}.{missing[0]}' "
                            f"({fields_by_name(cls)[missing[0]].metadata['doc']})")
    return cls(**raw)


def fields_by_name(cls) -> dict:
    return {f.name: f for f in fields(cls)}


class _Section:
    """Base of the sections: validation on construction, ``replace``, plain-dict export."""

    _prefix = ""  # the section's name in a config (its key prefix in messages)

    def __post_init__(self):
        hints = _hints(type(self))
        for f in fields(self):
            key = self._key(f.name)
            setattr(self, f.name, _check_value(f, hints[f.name], getattr(self, f.name), key))
        self.validate()

    def _key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def validate(self) -> None:
        """Consistency rules between the section's keys (raise :class:`SettingsError`)."""

    def replace(self, **changes):
        """A copy with ``changes`` (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """Plain values (tuples as lists, nested sections as mappings), ready for YAML and JSON."""
        return _plain(asdict(self))

    def results_dict(self) -> dict:
        """:meth:`as_dict` of the keys that change results (what a resume key depends on)."""
        d = self.as_dict()
        return {f.name: d[f.name] for f in fields(self) if f.metadata.get("results", True)}


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------
# the sections of a config file
# ---------------------------------------------------------------------------

_FLOAT_DTYPES = ("float32", "float64")
_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")


def _device_ok(v: str) -> bool:
    if not _DEVICE.match(v):
        return False
    if v.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return False
        return int(v.partition(":")[2] or 0) < torch.cuda.device_count()
    return True


_PHASES = ("fcc", "bcc", "hcp", "diamond", "liquid")


@dataclass
class GenerateSettings(_Section):
    """``data.generate``: reference data made by ``hdnnp generate`` on the first run."""

    _prefix = "data.generate"
    system: str = option(doc="built-in system", choices=("lj", "al", "al-eam", "si", "si-sw", "cuzr", "cuzr-eam"))
    configs: int | None = option(None, "configurations in total (default: the system's)", gt=0)
    seed: int = option(0, "seed of the MD velocities")
    out: str | None = option(None, "output folder (default RUN/data)", path=True)
    temperatures: list[float] | None = option(None, "temperatures of the state points (K; epsilon/kB for lj)", gt=0)
    densities: list[float] | None = option(None, "densities of the state points (g/cm^3; sigma^-3 for lj)", gt=0)
    starts: list[str] | None = option(None, "starting structures", check=(
        lambda v: all(s in _PHASES for s in v), ", ".join(_PHASES)))
    jobs: int = option(1, "state points run at the same time", ge=1, results=False)
    composition: str | None = option(None, "alloys (cuzr): composition such as Cu50Zr50 (default Cu64Zr36)")
    rattled: int = option(0, "rattled copies of samples appended (every atom displaced by a Gaussian; energies and "
                          "forces from the same potential): pairs on the repulsive wall MD never reaches; "
                          "training.train_tail of the same number keeps them out of validation and test", ge=0)
    rattle_sigma: float = option(0.1, "their displacement per Cartesian component", gt=0, unit="length units")


@dataclass
class DataSettings(_Section):
    """``data:`` where the structures and their symmetry functions come from."""

    _prefix = "data"
    structures: str | None = option(None, "input.data (n2p2) or any file ASE reads (relative to the config)", path=True)
    features: str | None = option(None, "HDF5 feature file (written if missing; default RUN/features.h5)", path=True)
    generate: GenerateSettings | None = option(None, "run the reference-data generator first (data.generate.*)")
    store_dtype: str = option("float32", "storage precision of the features", choices=_FLOAT_DTYPES)
    derivatives: bool = option(False, "store the SF derivatives dG/dr (needed for force training)")
    force_atoms: int | float | None = option(
        None, "store derivatives only for the forces of this many atoms of each structure (integer) or this "
        "fraction of them (0-1); null: every atom", gt=0,
        check=(lambda v: isinstance(v, int) or v <= 1, "a number of atoms (>= 1) or a fraction in (0, 1]"))
    force_seed: int = option(0, "seed of the force-atom draw (one draw per structure)")
    min_distance: float | None = option(0.5, "refuse structures with two atoms closer than this (0 or null: no "
                                        "check)", ge=0.0, unit="length units", results=False)

    def validate(self) -> None:
        if not (self.structures or self.features or self.generate):
            raise SettingsError(self._key("structures"),
                                "data: give 'structures' (input.data), 'features' (HDF5) or 'generate'")

    def structures_file(self, run_dir) -> Path | None:
        """The structure file: ``structures``, or ``input.data`` of ``generate`` (default folder ``RUN/data``)."""
        if self.generate is not None:
            return Path(self.generate.out or Path(run_dir) / "data") / "input.data"
        return Path(self.structures) if self.structures else None


@dataclass
class SymfuncSettings(_Section):
    """``symfuncs:`` the candidate symmetry functions."""

    _prefix = "symfuncs"
    candidates: str = option("standard", "standard (6 centred + 6 shifted radial, 10 angular type 9), al329 (the "
                             "reference study's 329 Al candidates), si-boron (the study's boron recipe on Si: 12 "
                             "radial + 48 angular, rc 7 A), si-boron-short (the same recipe at rc 5 A), si-dense (24 radial at 5 A, 48 angular at 5 and 48 at 3.8 A), cuzr (element-resolved for the data's elements: radial "
                             "per neighbour element, angular per neighbour pair; 108 per element for Cu-Zr) or "
                             "input.nn (the symfunction_short lines of 'input_nn')",
                             choices=("standard", "al329", "si-boron", "si-boron-short", "si-dense", "cuzr", "input.nn"))
    element: str | None = option(None, "element symbol (default: the data's first, alphabetically)")
    rc: float = option(2.8, "cutoff radius of the standard candidates", gt=0, unit="length")
    rc_angular: float | None = option(None, "cutoff of the angular standard candidates (default rc)", gt=0,
                                      unit="length")
    n_centered: int = option(6, "standard candidates: centred radial functions (rs = 0)", ge=0)
    n_shifted: int = option(6, "standard candidates: shifted radial functions of one width", ge=0)
    r_min: float | str | None = option(
        None, "centre of the innermost shifted radial candidate (default 0.25 rc; auto: the shortest interatomic "
        "distance in the data rounded down to 0.01, as n2p2's sfparamgen r_lower)",
        check=(lambda v: v == "auto" or (not isinstance(v, str) and v > 0), "a length > 0 or auto"), unit="length")
    input_nn: str | None = option(None, "input.nn whose symfunction_short lines are the candidates", path=True)
    drop_below: float | None = option(None, "drop radial candidates that are zero on the data: pair term "
                                      "fc(r) exp(-eta (r - rs)^2) below this at every distance from the data's "
                                      "shortest to the cutoff (e.g. 0.001; null: keep every candidate)", gt=0, le=1)

    def validate(self) -> None:
        if self.candidates == "input.nn" and not self.input_nn:
            raise SettingsError(self._key("input_nn"), "'symfuncs.candidates: input.nn' needs 'symfuncs.input_nn'")


_ACTIVATIONS = tuple(ACTIVATIONS)


@dataclass
class ModelSpec(_Section):
    """``model:`` network shape and n2p2 scaling of the inputs."""

    _prefix = "model"
    hidden: list[int] = option(factory=lambda: [10, 10], doc="hidden layer widths", ge=1)
    activations: list[str] | None = option(
        None, "n2p2 activation letters, hidden layers then output (default t for each hidden layer, l)",
        check=(lambda v: all(a in _ACTIVATIONS for a in v), f"n2p2 letters ({' '.join(_ACTIVATIONS)})"))
    scaling: str = option("scalecenter", "n2p2 scaling of the symmetry functions", choices=tuple(SCALING_MODES))
    scale_min: float = option(0.0, "n2p2 scale_min_short")
    scale_max: float = option(1.0, "n2p2 scale_max_short")
    normalize_nodes: bool = option(False, "n2p2 normalize_nodes")
    atom_energy: dict[str, float] = option(factory=dict, doc="per-element reference energies subtracted before "
                                           "training, e.g. {Al: -3.74}", unit="energy")

    def validate(self) -> None:
        if self.activations is not None and len(self.activations) != len(self.hidden) + 1:
            raise SettingsError(self._key("activations"),
                                f"'{self._key('activations')}' needs {len(self.hidden) + 1} letters (hidden layers "
                                f"+ output), got {len(self.activations)}")
        if not self.scale_max > self.scale_min:
            raise SettingsError(self._key("scale_max"), f"'{self._key('scale_max')}' ({self.scale_max:g}) must be "
                                f"greater than '{self._key('scale_min')}' ({self.scale_min:g})")

    def letters(self) -> list[str]:
        """The activation letters: hidden layers, then the output."""
        return list(self.activations or ["t"] * len(self.hidden) + ["l"])


def _memory_ok(v) -> bool:
    from .training.memory import parse_memory

    parse_memory(v)
    return True


@dataclass
class TrainSettings(_Section):
    """``training:`` the data split and the optimiser of one training run."""

    _prefix = "training"
    epochs: int = option(300, "maximum epochs", gt=0)
    batch_size: int = option(32, "structures per batch (L-BFGS: per gradient chunk)", gt=0)
    lr: float | None = option(None, "learning rate (null: learning-rate range test)", gt=0)
    lr_min_factor: float = option(0.01, "cosine annealing floor as a fraction of lr", gt=0, le=1)
    restart_period: int = option(50, "epochs until the first warm restart", gt=0)
    restart_mult: int = option(1, "period multiplier after each restart", gt=0)
    weight_decay: float = option(1e-4, "AdamW weight decay (hidden and output weights only)", ge=0)
    patience: int = option(100, "early stopping: epochs without improvement", gt=0)
    min_delta: float = option(1e-4, "early stopping: relative improvement that counts", ge=0)
    force_weight: float = option(0.0, "weight of the force MSE in the loss (> 0 needs data.derivatives); not given: "
                                 "1 wherever derivatives can be had (data.derivatives: true or derivatives: "
                                 "on_the_fly), else 0. 0: energies only, the reference study's setting", ge=0)
    seed: int = option(0, "seed of initialisation and batch order")
    checkpoint_every: int = option(10, "epochs between checkpoints", ge=0, results=False)
    eval_batch_size: int | None = option(None, "structures per batch when evaluating (null: as many as fit in "
                                         "training.memory)", gt=0, results=False)
    memory: str | float = option("4GB", "memory budget of a training or evaluation step (e.g. 8GB): sets the "
                                 "evaluation batches, splits larger training batches into micro-batches (same "
                                 "gradients) and keeps SF values and derivatives on disk unless they fit in half "
                                 "of it",
                                 check=(_memory_ok, "a size such as 8GB, 512MB or a number of bytes"),
                                 unit="bytes", results=False)
    force_atoms: int | float | None = option(
        None, "train on the forces of this many (integer) or this fraction (0-1) of each structure's stored force "
        "atoms; null: all of them (evaluation always uses all)", gt=0,
        check=(lambda v: isinstance(v, int) or v <= 1, "a number of atoms (>= 1) or a fraction in (0, 1]"))
    force_resample: bool = option(False, "draw the training force atoms anew every epoch (seeded by training.seed)")
    derivatives: str = option("stored", "SF derivatives for force training: stored (feature file) or on_the_fly "
                              "(computed in every step from data.structures; nothing stored, e.g. on a GPU)",
                              choices=("stored", "on_the_fly"))
    progress: bool = option(True, "progress bars", results=False)
    compile: bool = option(False, "torch.compile the networks (falls back to eager on failure)")
    optimizer: str = option("adam", "adam (minibatch AdamW) or lbfgs (full-batch L-BFGS with a strong-Wolfe line "
                            "search, gradient accumulated over chunks sized by training.memory; for refits with lr 1 and float64, "
                            "not for the lasso stages)", choices=("adam", "lbfgs"))
    lbfgs_steps: int = option(10, "L-BFGS iterations per epoch", gt=0)
    split: list[float] = option(factory=lambda: [0.8, 0.1, 0.1], doc="train/validation/test fractions (sum 1)",
                                ge=0, le=1)
    split_seed: int = option(0, "seed of the split")
    train_tail: int = option(0, "the last N structures of the data go to training only and the split divides the "
                             "others as it would without them (a refit on added data keeps the validation and test "
                             "sets of the model it starts from)", ge=0)
    tail_weight: float = option(1.0, "loss weight of the last tail_weight_structures structures (energy and force "
                                "terms; e.g. rattled copies, whose large forces dominate the force loss); RMSEs stay "
                                "unweighted", ge=0)
    tail_weight_structures: int | None = option(None, "how many of the last structures get tail_weight (null: "
                                                "training.train_tail)", ge=0)
    dtype: str = option("float32", "training precision", choices=_FLOAT_DTYPES)
    device: str = option("cpu", "torch device", check=(_device_ok, "cpu, mps, or an available cuda[:N]/xpu[:N]"),
                         results=False)
    threads: int | None = option(None, "torch CPU threads (null: torch's choice)", ge=1, results=False)
    init_model: str | None = option(None, "start from this potential's weights (model.pt or n2p2 folder; same "
                                    "functions and layers; its scaling and normalisation are transformed exactly)", path=True)

    def validate(self) -> None:
        if len(self.split) != 3:
            raise SettingsError(self._key("split"), f"'{self._key('split')}' needs 3 fractions (train, validation, "
                                f"test), got {len(self.split)}")
        if abs(sum(self.split) - 1.0) > 1e-6:
            raise SettingsError(self._key("split"), f"'{self._key('split')}' fractions must sum to 1, got "
                                f"{self.split} (sum {sum(self.split):.6g})")
        if self.split[0] <= 0:
            raise SettingsError(self._key("split"), f"'{self._key('split')}': the training fraction must be > 0")

    @property
    def memory_bytes(self) -> float:
        """``memory`` in bytes."""
        from .training.memory import parse_memory

        return parse_memory(self.memory)

    def replace(self, **changes) -> "TrainSettings":
        """A copy with ``changes``; ``None`` values are ignored (except ``lr``: None is the finder)."""
        return super().replace(**{k: v for k, v in changes.items() if v is not None or k == "lr"})


@dataclass
class LambdaRange(_Section):
    """``selection.lambdas`` as a log-spaced range."""

    _prefix = "selection.lambdas"
    min: float = option(doc="smallest lambda", gt=0)
    max: float = option(doc="largest lambda", gt=0)
    num: int = option(doc="number of lambdas", ge=1)

    def validate(self) -> None:
        if self.max < self.min:
            raise SettingsError(self._key("max"), f"'{self._key('max')}' must be >= '{self._key('min')}'")

    def values(self) -> list[float]:
        import numpy as np

        return [float(x) for x in np.geomspace(self.min, self.max, int(self.num))]


@dataclass
class SelectionSettings(_Section):
    """``selection:`` the adaptive-group-lasso path, the choice rule, baselines, repeats, fakes."""

    _prefix = "selection"
    lambdas: list[float] | LambdaRange | None = option(None, "list of lambdas, or {min, max, num} (log-spaced); "
                                                       "null: n_lambdas from the data, lambda_ratio x lambda_max to "
                                                       "lambda_max (docs/selection.md)", gt=0,
                                                       check=(lambda v: v != [], "at least one"))
    n_lambdas: int = option(10, "lambdas of the grid from the data (lambdas: null)", ge=1)
    lambda_ratio: float = option(1e-3, "smallest / largest lambda of the grid from the data", gt=0, le=1)
    gamma: float = option(1.0, "adaptive weights 1/||w_GL||^gamma", gt=0)
    angular_cost: float = option(1.0, "penalty weight of an angular function's group relative to a radial one (1: "
                                 "the published method; > 1 favours cheap radial functions)", gt=0)
    cost_model: str = option("angular", "group penalty weights: angular (angular_cost for every angular function), "
                             "terms (each function's MD cost for its element: neighbour pairs or triplets per "
                             "atom counted on the data, relative to the mean radial function) or box (terms times "
                             "the element's share of the atoms x the number of elements: the cost per MD step of "
                             "the whole box, so a minority element's functions cost less; equal shares give terms)",
                             choices=("angular", "terms", "box"))
    prox: str = option("adam", "proximal step size: adam (Adam's metric) or lr", choices=("adam", "lr"))
    gl_epochs: int | None = option(None, "epochs of the group-lasso stage (default training.epochs)", gt=0)
    agl_epochs: int | None = option(None, "epochs of the adaptive stage (default training.epochs)", gt=0)
    refit_epochs: int | None = option(None, "epochs of the refit (default training.epochs)", gt=0)
    refit_optimizer: str | None = option(None, "optimizer of the refits along the path (default training.optimizer; "
                                         "lbfgs: unit step, refit_epochs x training.lbfgs_steps iterations)",
                                         choices=("adam", "lbfgs"))
    max_features: int = option(8, "largest set the choice may return", gt=0)
    max_per_element: int | None = option(None, "largest number of functions the choice may keep for any one "
                                         "element (multi-element data; null: no limit)", gt=0)
    tolerance: float = option(1.5, "chosen set: refit validation RMSE <= tolerance x the best (full model or best "
                              "refit)", ge=1)
    stop_ratio: float | None = option(None, "stop the path after a lambda whose set has at most max_features "
                                      "functions and whose refit validation error exceeds stop_ratio x the "
                                      "reference (larger lambdas give smaller, worse sets the rule would not take); "
                                      "null: every lambda", gt=1)
    refine: int = option(0, "more lambdas after the grid, each bisecting (in log lambda) the bracket where the "
                         "choice could improve: between a choice within tolerance and the next larger lambda, or "
                         "between the best allowed set and a smaller lambda whose set is too large "
                         "(max_features, max_per_element)", ge=0)
    metric: str = option("auto", "error the choice compares: energy, forces (needs training.force_weight > 0), or "
                         "auto (forces when the path trains on forces)", choices=("auto", "energy", "forces"))
    baselines: list[str] = option(factory=lambda: ["cur", "pearson"], doc="baseline selectors",
                                  check=(lambda v: all(x in ("cur", "pearson") for x in v), "a list of cur, pearson"))
    pearson_threshold: float = option(0.9, "Pearson filter: largest |correlation| with a kept feature", gt=0, le=1)
    cur_atoms: int = option(20000, "atoms sampled for CUR", gt=0)
    repeats: int = option(5, "models per feature set for the test-RMSE comparison", ge=0)
    repeat_epochs: int | None = option(None, "epochs of the repeat trainings (default training.epochs)", gt=0)
    fakes: int = option(0, "fake features added for the fake-feature experiment (0: none)", ge=0)
    fakes_seed: int = option(0, "seed of the fake features")
    parallel_fakes: bool = option(False, "run the fake-feature path in a second thread, alongside the main path "
                                  "(uses one more core)", results=False)
    rdf_structures: int = option(50, "structures sampled for g(r)", gt=0)
    md_check: bool | str = option("auto", "run the choice rule's top sets in a short hot MD and choose the first "
                                  "that stays in the data's range (auto: when LAMMPS, the pair_style hdnnp plugin "
                                  "and a built-in system for the element are there; false: off; true: required)",
                                  check=(lambda v: v in (True, False, "auto"), "true, false or auto"))
    md_check_candidates: int = option(3, "MD check: distinct sets tried at most, in the choice rule's order", gt=0)
    md_check_runs: int = option(2, "MD check: independent runs (velocity seeds) per set; a set passes if every "
                                "run does", gt=0)
    md_check_temperature: float | None = option(None, "MD check temperature (default: the system's highest quench "
                                                "temperature)", gt=0)
    md_check_measurement: float | None = option(None, "MD check time at that temperature (default Al 4 ps, LJ 10 "
                                                "tau, Si 3 ps)", gt=0)
    md_check_distance_margin: float = option(0.1, "MD check: pairs closer than the data's shortest distance x "
                                             "(1 - margin) fail", ge=0, check=(lambda v: v < 1, "< 1"))
    md_check_max_ew_rate: float = option(0.01, "MD check: extrapolation warnings allowed per atom and step at the "
                                         "hot temperature", ge=0)

    def lambda_values(self) -> list[float] | None:
        """The lambdas of the path (a range expanded); None: the grid comes from the data."""
        if self.lambdas is None:
            return None
        if isinstance(self.lambdas, LambdaRange):
            return self.lambdas.values()
        return [float(x) for x in self.lambdas]

    def resolved_metric(self, force_weight: float) -> str:
        """``metric`` with ``auto`` resolved: forces when the path trains on forces."""
        if self.metric != "auto":
            return self.metric
        return "forces" if force_weight > 0 else "energy"


#: section name -> class, in file order
SECTIONS = {"data": DataSettings, "symfuncs": SymfuncSettings, "model": ModelSpec, "training": TrainSettings,
            "selection": SelectionSettings}


@dataclass
class Config:
    """A whole ``hdnnp train``/``hdnnp select`` config; ``source``: the file it was read from."""

    data: DataSettings = field(default_factory=lambda: DataSettings(features="features.h5"))
    symfuncs: SymfuncSettings = field(default_factory=SymfuncSettings)
    model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainSettings = field(default_factory=TrainSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.training.force_weight > 0 and not self.data.derivatives and self.training.derivatives == "stored":
            raise SettingsError("training.force_weight", "'training.force_weight' > 0 (force training) needs "
                                "'data.derivatives: true' (or 'training.derivatives: on_the_fly')")
        if self.selection.metric == "forces" and self.training.force_weight <= 0:
            raise SettingsError("selection.metric", "'selection.metric: forces' needs force training "
                                "('training.force_weight' > 0)")

    def as_dict(self) -> dict:
        """The sections as plain mappings (``source`` left out)."""
        return {name: getattr(self, name).as_dict() for name in SECTIONS}

    def flat(self, results_only: bool = False) -> dict[str, Any]:
        """``{"section.key": value}``; ``results_only``: only keys that change the results."""
        out = {}
        for name, cls in SECTIONS.items():
            sec = getattr(self, name)
            for f in fields(cls):
                if results_only and not f.metadata.get("results", True):
                    continue
                v = getattr(sec, f.name)
                out[f"{name}.{f.name}"] = _plain(asdict(v)) if is_dataclass(v) else _plain(v)
        return out


def from_dict(raw: Any, source: str | None = None) -> Config:
    """A validated :class:`Config` from nested mappings (as read from YAML); errors name ``source`` and the key."""
    where = source or "config"
    try:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise SettingsError("", "the config must be a mapping of sections")
        sections = {}
        for name, body in raw.items():
            if name not in SECTIONS:
                hint = difflib.get_close_matches(str(name), list(SECTIONS), n=1)
                raise SettingsError(str(name), f"unknown section '{name}'" + (
                    f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(SECTIONS)})"))
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise SettingsError(str(name), f"section '{name}' must be a mapping")
            sections[name] = _build(SECTIONS[name], body, name)
        if "data" not in sections:
            sections["data"] = _build(DataSettings, {}, "data")
        sections = _force_aware_default(sections, raw)
        return Config(**sections, source=source)
    except SettingsError as exc:
        raise InputFileError(where, None, str(exc)) from None


def _force_aware_default(sections: dict, raw: dict) -> dict:
    """``training.force_weight`` not given: 1 (train and select on energies and forces) wherever derivatives can
    be had (``data.derivatives: true`` or ``training.derivatives: on_the_fly``), else 0 (energies only)."""
    given = raw.get("training") if isinstance(raw.get("training"), dict) else {}
    if "force_weight" in given:
        return sections
    tr = sections.get("training") or _build(TrainSettings, {}, "training")
    if sections["data"].derivatives or tr.derivatives == "on_the_fly":
        sections = {**sections, "training": tr.replace(force_weight=1.0)}
    return sections


def section_fields(cls) -> list:
    """The documented fields of a section class, in order."""
    return [f for f in fields(cls) if f.init]


def default_of(f) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def type_name(cls, f) -> str:
    return _type_name(_hints(cls)[f.name])


# ---------------------------------------------------------------------------
# the demo (hdnnp demo): every size, LJ units (sigma, epsilon, tau)
# ---------------------------------------------------------------------------

@dataclass
class DemoSizes(_Section):
    """Every size of ``hdnnp demo`` (LJ units: sigma, epsilon, tau); presets in :mod:`toolkit.demo`."""

    _prefix = "sizes"
    # 1. reference data: LAMMPS NVT at every (start, T, rho). Small periodic cells (32 atoms, 3.3 sigma
    #    wide, wider than the cutoff 2.8) give many energies per computed atom.
    system: str = option("lj", "built-in system of the reference data and the MD",
                         choices=("lj", "al-eam", "si-sw", "cuzr-eam"))
    configs: int = option(1260, "reference configurations", gt=0)
    cells: tuple[int, ...] = option((2, 2, 2), "unit cells of the data's boxes (2, 2, 2: 32 atoms)", ge=1)
    data_temperatures: tuple[float, ...] = option((0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0), "temperatures of the data "
                                                  "(2.0: close contacts, the repulsive wall)", gt=0, unit="epsilon/kB")
    data_densities: tuple[float, ...] = option((0.85, 0.9, 0.95), "densities of the data", gt=0, unit="sigma^-3")
    data_starts: tuple[str, ...] = option(("fcc", "liquid"), "starting structures of the data", check=(
        lambda v: all(s in ("fcc", "bcc", "hcp", "liquid") for s in v), "fcc, bcc, hcp, liquid"))
    data_rattled: int = option(0, "rattled copies of the samples added to the data (generate's 'rattled'): pairs "
                               "on the repulsive wall that MD does not reach; every selection and refit trains on "
                               "them, validation and test stay MD samples (training.train_tail)", ge=0)
    data_rattle_sigma: float = option(0.1, "their displacement per Cartesian component", gt=0,
                                      unit="sigma or Angstrom")
    # 2. candidates
    rc: float = option(2.8, "cutoff of the candidate functions", gt=0, unit="sigma")
    r_min: float | str = option("auto", "innermost shifted radial centre (auto: the data's shortest distance)",
                                check=(lambda v: v == "auto" or (not isinstance(v, str) and v > 0), "> 0 or auto"))
    fakes: int = option(10, "fake noise features of the fake-feature experiment", ge=0)
    # 3. selection on energies and forces: with energies alone every set of this small data set fits
    #    about equally badly and the path cannot tell the functions forces need.
    select_structures: int = option(300, "MD samples of the selection (with the SF derivatives of all candidates; "
                                    "the rattled copies come on top)", gt=0)
    select_force_weight: float = option(1.0, "force weight of the path (> 0: the choice compares force RMSEs)",
                                        ge=0)
    select_force_atoms: int | float | None = option(
        None, "force atoms per structure whose derivatives the selection stores (data.force_atoms; a number or a "
        "fraction; null: every atom)", gt=0,
        check=(lambda v: isinstance(v, int) or v <= 1, "a number of atoms (>= 1) or a fraction in (0, 1]"))
    train_force_atoms: int | None = option(
        None, "force atoms per structure that each training epoch of the path draws anew from the stored ones "
        "(training.force_atoms with force_resample; null: every stored force atom)", gt=0)
    hidden: tuple[int, ...] = option((10, 10), "hidden layer widths", ge=1)
    batch_size: int = option(16, "structures per batch", gt=0)
    lr: float = option(0.01, "learning rate", gt=0)
    epochs: int = option(100, "epochs of the full model (one cosine cycle)", gt=0)
    patience: int = option(100, "early stopping patience", gt=0)
    lambdas: tuple[float, ...] | None = option((200.0, 300.0, 400.0, 550.0), "lambdas of the AGL path (null: "
                                               "n_lambdas from the data, selection.lambdas: null)", gt=0)
    n_lambdas: int = option(8, "lambdas of the grid from the data (lambdas: null)", ge=1)
    lambda_ratio: float = option(0.01, "smallest / largest lambda of the grid from the data", gt=0, le=1)
    stop_ratio: float | None = option(None, "stop the path once a choosable set's refit error exceeds this x "
                                      "the reference (selection.stop_ratio; null: every lambda)", gt=1)
    gl_epochs: int = option(20, "epochs of the group-lasso stage", gt=0)
    agl_epochs: int = option(20, "epochs of the adaptive stage", gt=0)
    refit_epochs: int = option(10, "epochs of the path refits (x 10 L-BFGS iterations, from the AGL solution)", gt=0)
    angular_cost: float = option(3.0, "an angular function must buy this times the accuracy of a radial one "
                                 "(MD cost)", gt=0)
    cost_model: str | None = option(None, "selection.cost_model (angular, terms, box); null: the system's "
                                    "(toolkit.demo_multi.COST_MODEL; else angular)", choices=("angular", "terms", "box"))
    refit_optimizer: str = option("lbfgs", "optimizer of the path refits", choices=("adam", "lbfgs"))
    max_features: int = option(8, "largest set the choice may return", gt=0)
    max_per_element: int | None = option(None, "largest number of functions the choice may keep for one element "
                                         "(alloys; null: no limit)", gt=0)
    refine: int = option(0, "more lambdas bisecting the grid where the choice could improve (selection.refine)",
                         ge=0)
    tolerance: float = option(1.05, "chosen set: refit validation RMSE <= tolerance x the best", ge=1)
    repeats: int = option(2, "seeds per set for the test-RMSE comparison", ge=0)
    repeat_epochs: int = option(40, "epochs of each repeat", gt=0)
    threads: int = option(1, "torch CPU threads (0: torch's choice)", ge=0)
    # 4. final refit: the chosen set's path refit continued (warm start) on the same structures
    force_weight: float = option(0.1, "force weight of the final refit", ge=0)
    force_epochs: int = option(30, "epochs of the final refit (0: none; lbfgs: 10 iterations each)", ge=0)
    force_batch_size: int = option(60, "batch of the final refit with adam (lbfgs: full batch, chunks from the memory budget)",
                                   gt=0)
    force_optimizer: str = option("lbfgs", "optimizer of the final refit", choices=("adam", "lbfgs"))
    refit_data: str = option("select", "structures of the final refit: select (the selection's) or all (every "
                             "structure of the data: those beyond the selection's go to training, validation and test "
                             "stay the selection's)", choices=("select", "all"))
    rattled_weight: float = option(1.0, "loss weight of the rattled copies in the final refit (training.tail_weight; "
                                   "Cu-Zr: 0.25 made the potential worse on the MD samples, docs/systems.md)", ge=0)
    refit_force_atoms: int | float | None = option(
        None, "force atoms per structure of the final refit (a number or a fraction, 1.0: every atom; it stores the "
        "derivatives of the chosen functions only; null: select_force_atoms)", gt=0,
        check=(lambda v: isinstance(v, int) or v <= 1, "a number of atoms (>= 1) or a fraction in (0, 1]"))
    force_dtype: str = option("float64", "precision of the final refit", choices=_FLOAT_DTYPES)
    # 5. MD: melt the fcc crystal (256 atoms) at the first T, then quench
    md_temperatures: tuple[float, ...] = option((1.5, 1.2, 0.9), "quench temperatures, highest first", gt=0,
                                                unit="epsilon/kB")
    md_density: float = option(0.9, "density of the MD", gt=0, unit="sigma^-3")
    melt_time: float = option(10.0, "melting time", gt=0, unit="tau")
    equilibration: float = option(10.0, "equilibration per temperature", gt=0, unit="tau")
    measurement: float = option(50.0, "measurement per temperature", gt=0, unit="tau")
    traj_every: float = option(0.5, "time between trajectory frames", gt=0, unit="tau")
    runs_selected: int = option(4, "MD runs (velocity seeds) of the selected potential", gt=0)
    runs_reference: int = option(8, "MD runs of lj/cut", gt=0)
    # the full potential runs ~50x slower than a radial-only one (angular triplets): its own, shorter
    # protocol, run on the core the force refit leaves idle
    runs_full: int = option(1, "MD runs of the full potential (0: not quenched)", ge=0)
    full_md_temperatures: tuple[float, ...] = option((1.5,), "the full potential's quench temperatures", gt=0,
                                                     unit="epsilon/kB")
    full_melt_time: float = option(2.0, "the full potential's melting time", gt=0, unit="tau")
    full_equilibration: float = option(2.0, "the full potential's equilibration", gt=0, unit="tau")
    full_measurement: float = option(10.0, "the full potential's measurement", gt=0, unit="tau")
    msd_source: str = option("trajectory", "MSD from all time origins of the trajectory, or LAMMPS's msd.dat",
                             choices=("trajectory", "lammps"))
    # the Einstein fit's lags as fractions of the longest (half the trajectory with msd_source trajectory): the
    # long lags have few independent time origins; Cu-Zr fits 0.1-0.5 (docs/systems.md)
    msd_fit_start: float = option(0.2, "Einstein fit from this fraction of the longest MSD lag", ge=0,
                                  check=(lambda v: v < 1, "< 1"))
    msd_fit_end: float = option(1.0, "Einstein fit up to this fraction of the longest MSD lag", gt=0,
                                check=(lambda v: v <= 1, "<= 1"))
    jobs: int = option(2, "LAMMPS runs (and the fake-feature path) at the same time", ge=1)
    # MD guard rails of every quench run (toolkit/lammps/guard.py) and the MD check of the selection's top
    # sets (selection.md_check): a pair closer than the data's shortest distance x (1 - margin), or more
    # extrapolation warnings per atom and step than the rate, stops a run and FAILs it
    md_check: bool | str = option("auto", "MD check of the selection's top sets (selection.md_check)",
                                  check=(lambda v: v in (True, False, "auto"), "true, false or auto"))
    guard_distance_margin: float = option(0.1, "MD guard: fraction below the data's shortest distance allowed",
                                          ge=0, check=(lambda v: v < 1, "< 1"))
    guard_max_ew_rate: float = option(0.01, "MD guard: extrapolation warnings allowed per atom and step", ge=0)
    # 7. speed (timesteps/s from LAMMPS's Performance line; the full potential needs few steps)
    bench_steps: int = option(1000, "benchmark timesteps of lj/cut and the selected potential", gt=0)
    bench_full_steps: int = option(40, "benchmark timesteps of the full potential", gt=0)
    bench_repeats: int = option(3, "benchmark repeats (median reported)", gt=0)

    def validate(self) -> None:
        if self.msd_fit_end <= self.msd_fit_start:
            raise SettingsError(self._key("msd_fit_end"),
                                f"'{self._key('msd_fit_end')}' must be > '{self._key('msd_fit_start')}'")
