"""Shared by the tests and the benchmarks, never imported by the package at run time."""
