"""Benchmarks: `make bench` runs them all and prints figures (recorded in the README)."""
