"""Scores: one definition shared by training, the index baselines, the tests and the benchmarks."""
