"""LAMMPS: reference data generation, the quench protocol, analysis of the runs, speed benchmarks.

* :func:`toolkit.lammps.generate.generate` -- reference data sets (``hdnnp generate``)
* :func:`toolkit.lammps.quench.quench` -- melt-and-quench MD runs (``hdnnp quench``)
* :func:`toolkit.lammps.analysis.analyze` -- diffusion, Arrhenius fits, RDFs (``hdnnp analyze``)
* :func:`toolkit.lammps.bench.bench` -- timesteps per second (``hdnnp bench``)

LAMMPS runs as a subprocess (:mod:`toolkit.lammps.runner`); see docs/lammps.md.
"""
