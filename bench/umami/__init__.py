"""Benchmarks of the Umami API family."""
