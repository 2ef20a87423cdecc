"""Helpers shared by the tests (and the benchmarks): data builders, no fixtures."""
