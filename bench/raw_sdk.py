"""Raw docker-SDK baseline, run as its own process so it pays the same startup as ``thv``.

    python bench/raw_sdk.py create --spec FILE --parallelism 8
    python bench/raw_sdk.py remove --label thc-bench.run=ID --parallelism 8

``create``: N x (``create_container`` + ``start``) in a ThreadPoolExecutor, with exactly the
container parameters ``thv`` uses (labels, env, cap_drop, restart policy, stdin_open);
``--no-start``: create only (the baseline of a fleet of ``state: stopped`` workloads).
``remove``: one list call by label, then N x ``remove_container(force=True)`` in parallel.
Prints one JSON line: {"n": …, "seconds_in_process": …, "import_seconds": …}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

T0 = time.perf_counter()
import docker  # noqa: E402

T_IMPORT = time.perf_counter() - T0


def _client() -> docker.APIClient:
    # The same client construction as toolhive_compose.runtime.docker.DockerRuntime._connect.
    # (DOCKER_HOST honoured, as thv does.)
    return docker.DockerClient(
        base_url=os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock",
        timeout=300,
        max_pool_size=32,
    ).api


def create_one(api: docker.APIClient, spec: dict, *, start: bool) -> str:
    """Create (and start) one container with the parameters ``thv`` uses; its id."""
    host_config = api.create_host_config(
        binds=[],
        port_bindings={},
        network_mode=spec.get("network_mode", "bridge"),
        cap_drop=["ALL"],
        security_opt=["label:disable"],
        restart_policy={"Name": "unless-stopped"},
        privileged=False,
    )
    config = api.create_container_config(
        image=spec["image"],
        command=spec["command"],
        environment=spec["env"],
        labels=spec["labels"],
        host_config=host_config,
        stdin_open=True,
        tty=False,
    )
    # docker-py sets StdinOnce with stdin_open; thv does not (a server's stdin must stay open
    # when an attached client goes away, or it reads EOF, exits and restarts)
    config["StdinOnce"] = False
    result = api.create_container_from_config(config, spec["name"])
    if start:
        api.start(result["Id"])
    return str(result["Id"])


def create(spec_file: str, parallelism: int, *, start: bool = True) -> int:
    with open(spec_file, encoding="utf-8") as fh:
        specs = json.load(fh)
    api = _client()
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        list(pool.map(lambda spec: create_one(api, spec, start=start), specs))
    return len(specs)


def remove(label: str, parallelism: int) -> int:
    api = _client()
    ids = [c["Id"] for c in api.containers(all=True, filters={"label": [label]})]

    def one(cid: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(cid, force=True)

    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        list(pool.map(one, ids))
    return len(ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("op", choices=["create", "remove"])
    parser.add_argument("--spec")
    parser.add_argument("--label")
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--no-start", dest="start", action="store_false", help="create only")
    args = parser.parse_args()
    t = time.perf_counter()
    n = (
        create(args.spec, args.parallelism, start=args.start)
        if args.op == "create"
        else remove(args.label, args.parallelism)
    )
    out = {"n": n, "seconds_in_process": time.perf_counter() - t, "import_seconds": T_IMPORT}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
