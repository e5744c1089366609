"""Cloud-provider IP ranges: a /count hit from AWS, DigitalOcean, Google Cloud, Azure or Oracle
Cloud gets GoatCounter's bot code for that provider (spec/goatcounter.md §11.6). The ranges come
from app/ingest/data/cloud-ranges.txt, which scripts/build-cloud-ranges.py makes at install."""
import bisect
import logging
import threading
from pathlib import Path

from app import netaddr

RANGES_FILE = Path(__file__).parent / "data" / "cloud-ranges.txt"
log = logging.getLogger("ibex.ingest")


class CloudRanges:
    """Disjoint address intervals with their bot codes, per IP version, searched by bisection."""

    def __init__(self, lines):
        table = {4: [], 6: []}
        for line in lines:
            if line.strip() and not line.startswith("#"):
                version, code, first, last = line.split()
                table[int(version)].append((int(first), int(last), int(code)))
        self._tables = {}
        for version, rows in table.items():
            rows.sort()
            self._tables[version] = ([r[0] for r in rows], [r[1] for r in rows],
                                     bytes(r[2] for r in rows))
        self.count = sum(len(rows) for rows in table.values())

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="ascii") as f:
            return cls(f)

    def code(self, ip):
        """The bot code of the provider whose range holds ``ip`` (a string), else 0."""
        address = netaddr.address(ip) if isinstance(ip, str) else None
        if address is None:
            return 0
        firsts, lasts, codes = self._tables[address.version]
        value = int(address)
        index = bisect.bisect_right(firsts, value) - 1
        return codes[index] if index >= 0 and value <= lasts[index] else 0


_lock = threading.Lock()
_ranges = None


def _loaded():
    global _ranges
    if _ranges is None:
        with _lock:
            if _ranges is None:
                try:
                    _ranges = CloudRanges.from_file(RANGES_FILE)
                except OSError as exc:  # not built (make static builds it): detect nothing
                    log.warning("cloud IP ranges not loaded (%s); run `make static`", exc)
                    _ranges = CloudRanges([])
    return _ranges


def bot_code(ip):
    """GoatCounter's bot code (8–17) for a request from a cloud provider's IP, else 0."""
    return _loaded().code(ip)
