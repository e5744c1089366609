"""Fixtures of the deployment tests: the production stack of bench/soak/stack.py (nginx from
deploy/, gunicorn, flask workers, PostgreSQL, Redis) on loopback ports, one per module."""
import os
import shutil

import pytest

from bench.soak.stack import Stack
from tests.conftest import PG_ADMIN_URL, REDIS_URL


def require_nginx():
    if not any(path and os.access(path, os.X_OK)
               for path in (shutil.which("nginx"), "/usr/sbin/nginx", "/usr/bin/nginx")):
        pytest.fail("nginx is not installed; `make test` (or `make nginx`) installs Debian's "
                    "package", pytrace=False)


def start_stack(tmp_path_factory, **kwargs):
    """A started Stack whose logs stay in pytest's temporary directory (kept for the last
    runs); a failure to start names the logs."""
    require_nginx()
    log_dir = tmp_path_factory.mktemp("stack-logs")
    stack = Stack(log_dir=str(log_dir), pg_admin_url=PG_ADMIN_URL, redis_url=REDIS_URL, **kwargs)
    try:
        stack.start()
    except RuntimeError as exc:
        pytest.fail(f"the stack did not start: {exc}\nlogs in {log_dir}", pytrace=False)
    return stack
