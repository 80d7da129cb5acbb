"""Benchmarks (`make bench`): each module measures one part and writes its section of
docs/benchmarks.md. Not tests: nothing here asserts on time."""
