"""Ingestion benchmarks: tracking-script sizes, hot-path throughput, persister and storage."""
