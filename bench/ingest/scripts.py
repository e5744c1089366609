"""Gzipped sizes of the tracking scripts as Ibex serves them (GET /count.js, /umami.js, /track.js
from a test app, no server or network needed) against their budgets. Sizes are gzip -9 (the
budget) and gzip -6 (gzip's and most servers' default) of the exact response body.

    .venv/bin/python -m bench.ingest.scripts [--json out.json]
"""
import argparse
import gzip
import os
import tempfile

from bench.ingest import common

# DESIGN.md's 1.5, 1.2 and 0.6 KB with 1 KB = 1024 bytes (rounded down), as the build script
# and tests/tracking use them.
BUDGETS = {"/count.js": 1536, "/umami.js": 1228, "/track.js": 614}
EXTRAS = ("/count-counter.js",)  # loaded by count.js only when a page shows a visit counter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the results to this file")
    opts = parser.parse_args(argv)
    results = {"benchmark": "scripts", "machine": common.machine(timed=False), "scripts": measure()}
    report(results)
    common.write_json(opts.json, results)
    return results


def measure():
    import config
    from app import create_app
    with tempfile.TemporaryDirectory(prefix="ibex-bench-scripts-") as tmp:
        app = create_app(config.TestingConfig(env={
            "DATABASE_URL": "sqlite:///" + os.path.join(tmp, "ibex.db"), "IBEX_INSTANCE_DIR": tmp}))
        client = app.test_client()
        build = os.path.join(app.static_folder, "build")
        scripts = []
        for path in (*BUDGETS, *EXTRAS):
            response = client.get(path)
            entry = {"path": path, "status": response.status_code,
                     "budget": BUDGETS.get(path)}
            if response.status_code != 200:
                entry.update(served=False, ok=False if path in BUDGETS else None)
                scripts.append(entry)
                continue
            body = response.get_data()
            name = path.lstrip("/")
            built = os.path.join(build, name)
            minified = os.path.isfile(built) and _read(built) == body
            entry.update(served=True, raw=len(body), content_type=response.content_type,
                         source="static/build (minified)" if minified else "not the static/build file",
                         gzip9=len(gzip.compress(body, compresslevel=9, mtime=0)),
                         gzip6=len(gzip.compress(body, compresslevel=6, mtime=0)))
            entry["ok"] = entry["gzip9"] <= entry["budget"] if entry["budget"] else None
            scripts.append(entry)
    return scripts


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def report(results):
    rows = []
    for s in results["scripts"]:
        budget = f"{s['budget']:,}" if s["budget"] else "(no budget)"
        if not s["served"]:
            rows.append([s["path"], f"{s['status']} (route missing)", "", "", "", budget, "",
                         "MISSED" if s["ok"] is False else "", ""])
            continue
        margin = s["budget"] - s["gzip9"] if s["budget"] else ""
        rows.append([s["path"], s["status"], s["raw"], s["gzip9"], s["gzip6"], budget, margin,
                     "" if s["ok"] is None else common.verdict(s["ok"]), s["source"]])
    common.print_table("tracking scripts as served, bytes (1 KB = 1024 bytes)",
                       ["script", "status", "raw", "gzip -9", "gzip -6", "budget (gzip -9)",
                        "margin", "", "body"], rows)


if __name__ == "__main__":
    common.run_main(main)
