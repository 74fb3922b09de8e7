"""Benchmarks: playground kernels against the peer a user would otherwise pick."""
