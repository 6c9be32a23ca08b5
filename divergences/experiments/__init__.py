"""Experiments built on the library, kept out of its core.

The headline experiment, behind ``divergences gradients``, in three layers:

* :mod:`~divergences.experiments.gradients`: the computation (values and
  gradients of every method on the disjoint segments, training dynamics, the
  critic over the plane, the stack timing), returning dataclasses, on any
  device;
* :mod:`~divergences.experiments.plots`: its figures (matplotlib, imported
  when a figure is drawn);
* :mod:`~divergences.experiments.report`: the run that writes JSON, CSV and
  figures into a folder without losing existing files.

:mod:`~divergences.experiments.histograms` bins samples of the segments (for
the experiment and ``divergences demo``), and
:mod:`~divergences.experiments.provenance` gives the machine record that every
result file (the experiments' and the benchmarks') carries.
"""
