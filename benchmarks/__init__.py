"""Performance benchmarks: `make bench` (python -m benchmarks.run) prints what export costs.

Not part of the tests: each figure is a ratio or a comparison measured in the same run, because
the machines are shared and noisy. tests/benchmarks/test_bench_smoke.py only proves the scripts run.
"""
