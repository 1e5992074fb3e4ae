"""Benchmarks: each bench_*.py has main() and prints ratios against a baseline run in-process."""
