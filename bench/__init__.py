"""The project's benchmark suite: `bench/run` is its one command (see README and BENCHMARKS.md)."""
