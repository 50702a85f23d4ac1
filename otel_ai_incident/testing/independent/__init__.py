"""Evaluation sets for the PII scanner and the tool-argument scorer, built from public format references alone.

They were written without reading the detectors or the generators beside them, so a figure measured here says how
the detectors hold on data nobody tuned them on. Tests and benchmarks import this package; the package imports
nothing of the project's runtime.
"""
