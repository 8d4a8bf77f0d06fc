"""Entry point for every benchmark: `python bench/run.py NAME [--quick] [--json]`.

Each benchmark is a module `bench/<NAME>.py` with `run(quick: bool) -> dict`. Results print
as a table (or JSON) with the machine and date, ready for docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = {
    "retention": "purge of one pupil (10 vs 10,000 entries) and the due list",
    "store": "append and read throughput: Chronicle vs plain eventsourcing-sqlalchemy",
    "ledger": "integration rate, commit-to-checkpoint latency, proof times, offline verification",
    "chronology": "a 1,000-entry pupil's chronology read, in a store and in one 10x larger",
    "projections": "rebuild and catch-up rates, register and census query times",
    "http": "wrk against a real `chronicle serve`: routes vs the /docs ceiling, mixed, soak",
    "import": "10,000 pupils from a CSV export and a CTF, and 100,000 history rows, against "
    "the plain append rate",
}
# Benchmarks whose module is not bench/<NAME>.py (bench/http.py would shadow the stdlib's
# `http`: this script's folder is first on sys.path).
MODULES = {"http": "http_wrk", "import": "imports"}


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke runs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    module = importlib.import_module(f"bench.{MODULES.get(args.name, args.name)}")
    result = {"benchmark": args.name, "machine": machine(), "quick": args.quick}
    result |= module.run(quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(module.render(result))


if __name__ == "__main__":
    main()
