"""Benchmarks of noetl-pg against a raw-SQL floor, run by hand: `python -m bench.run`."""
