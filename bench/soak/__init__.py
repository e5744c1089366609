"""The production stack on loopback (stack.py: nginx from deploy/, gunicorn, flask workers,
PostgreSQL, Redis) and the soak benchmark that runs mixed traffic through it (run.py)."""
