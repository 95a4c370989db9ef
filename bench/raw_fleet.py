"""The raw floor of a cold fleet of stdio MCP servers: what ``thv apply`` cannot do without.

    python bench/raw_fleet.py --spec FILE [--parallelism 16]

For each container of the spec file (the same parameters ``thv`` uses, as in
``raw_sdk.py``), in a ``ThreadPoolExecutor`` of ``--parallelism`` workers, in one process:
``create_container`` + ``start`` (docker SDK), then attach to its stdin/stdout through the
Engine API (``rawio.RawStdio``, a hijacked ``POST /containers/<id>/attach``) and do one MCP
``initialize`` (+ ``notifications/initialized``) and one ``tools/list`` over it, then detach.
That is the least a tool must do to bring a stdio server up and know that it answers MCP:
no proxy process, no state files, no readiness wait beyond the first answer, no progress
output. Prints one JSON line: {"n": …, "seconds_in_process": …, "import_seconds": …}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

T0 = time.perf_counter()
from raw_sdk import T_IMPORT, _client, create_one  # noqa: E402  (imports docker)
from rawio import LIST, RawStdio  # noqa: E402

T_IMPORT_ALL = T_IMPORT + time.perf_counter() - T0


def bring_up(spec_file: str, parallelism: int) -> int:
    with open(spec_file, encoding="utf-8") as fh:
        specs = json.load(fh)
    api = _client()

    def one(spec: dict) -> None:
        container_id = create_one(api, spec, start=True)
        stdio = RawStdio(container_id)
        try:
            stdio.initialize()
            tools = stdio.request(LIST)
            if "result" not in tools:
                raise RuntimeError(f"{spec['name']}: tools/list answered {tools}")
        finally:
            stdio.close()

    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        list(pool.map(one, specs))
    return len(specs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    t = time.perf_counter()
    n = bring_up(args.spec, args.parallelism)
    out = {"n": n, "seconds_in_process": time.perf_counter() - t, "import_seconds": T_IMPORT_ALL}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
