"""The command line (``cli``) and the benchmarks (``bench``, ``bench_batch``)."""
