"""tv2tv.benchmarks."""
