"""Hulin benchmarks: `make bench` (see bench/run_all.py); results in bench/results/."""
