"""Benchmarks of the dashboard: widget server times and page loads in Chromium."""
