"""Background jobs: exports, imports, maintenance, and the schedule (later issues)."""
