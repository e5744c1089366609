"""The write side: tracking payloads → HitIn → buffer → persister (ingestion issue)."""
