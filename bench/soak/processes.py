"""Child processes of a loopback run: each in its own process group with its output in a log
file, stopped gracefully and then by group; readiness polling with time limits."""
import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when its parent dies, even by SIGKILL (Linux)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Process:
    """A child in its own process group, its output in a log file; stopped by that group."""

    def __init__(self, name, argv, env, log_path, stop_signal=signal.SIGTERM, stop_timeout=60):
        self.name, self.log_path = name, log_path
        self.stop_signal, self.stop_timeout = stop_signal, stop_timeout
        self.log_offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, preexec_fn=_die_with_parent)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see "
                               f"{self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines=30):
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
        return ""

    def output(self):
        """What this process wrote to its log (a log file may hold earlier processes' output)."""
        with contextlib.suppress(OSError), open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")
        return ""

    def signal(self, signum):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def stop(self):
        """The stop signal to the main process (as systemd's KillMode=mixed), then SIGKILL to the
        whole group after ``stop_timeout`` s. Returns the exit status."""
        if self.alive():
            self.signal(self.stop_signal)
            try:
                self.popen.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # leftovers of the group, if any
        return self.popen.wait(timeout=10)


def children(pid):
    """Pids whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return sorted(found)


def wait_for(check, timeout, what, interval=0.1, processes=()):
    """Call ``check()`` until it is truthy; RuntimeError after ``timeout`` s or when one of
    ``processes`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            process.check_alive()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def http_status(url, source_address=None, timeout=5):
    """The status of GET ``url`` (TLS unverified: the stack's certificate is self-signed), or
    None when nothing answers."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=insecure_tls(), source_address=source_address)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                          source_address=source_address)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def insecure_tls():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
