"""The inputs: N identical servers as a workloads file, a compose file and raw SDK specs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from harness import PID_LABEL, RUN_LABEL


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid double-quoted YAML scalar


@dataclass
class Fleet:
    """N identical servers, as a workloads file, a compose file and raw SDK specs."""

    prefix: str  # container name prefix, unique per run and per kind
    n: int
    run_id: str
    project: str
    image: str
    command: list[str]
    network: str  # none | bridge
    state: str = "running"

    def names(self) -> list[str]:
        return [f"{self.prefix}-s{i:03d}" for i in range(self.n)]

    def env_of(self, i: int, changed: bool) -> dict[str, str]:
        return {"X": "2" if changed and i == 0 else "1"}

    def run_labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, PID_LABEL: str(os.getpid())}

    def workloads_yaml(self, changed: bool = False) -> str:
        profile = "none" if self.network == "none" else "network"
        args = "[" + ", ".join(_q(a.replace("$", "$$")) for a in self.command) + "]"
        lines = [
            "version: 1",
            f"project: {self.project}",
            "labels: {" + ", ".join(f"{k}: {_q(v)}" for k, v in self.run_labels().items()) + "}",
            "servers:",
        ]
        for i, name in enumerate(self.names()):
            env = ", ".join(f"{k}: {_q(v)}" for k, v in self.env_of(i, changed).items())
            lines += [
                f"  {name}:",
                f"    image: {self.image}",
                f"    args: {args}",
                f"    env: {{{env}}}",
                f"    permission_profile: {profile}",
            ]
            if self.state != "running":
                lines.append(f"    state: {self.state}")
        return "\n".join(lines) + "\n"

    def thv_like_labels(self, name: str) -> dict[str, str]:
        """The labels thv puts on a stdio container (hash value is a stand-in of equal size)."""
        return {
            **self.run_labels(),
            "toolhive": "true",
            "toolhive-name": name,
            "toolhive-basename": name,
            "toolhive-transport": "stdio",
            "toolhive-port": "20000",
            "toolhive-network-isolation": "false",
            "toolhive-compose.project": self.project,
            "toolhive-compose.config-hash": "0" * 64,
        }

    def thv_like_env(self, i: int, changed: bool = False) -> dict[str, str]:
        return {**self.env_of(i, changed), "MCP_TRANSPORT": "stdio"}

    def raw_specs(self) -> list[dict]:
        return [
            {
                "name": name,
                "image": self.image,
                "command": self.command,
                "env": self.thv_like_env(i),
                "labels": self.thv_like_labels(name),
                "network_mode": self.network,
            }
            for i, name in enumerate(self.names())
        ]

    def compose_yaml(self, changed: bool = False) -> str:
        command = "[" + ", ".join(_q(a.replace("$", "$$")) for a in self.command) + "]"
        lines = ['version: "2.4"', "services:"]
        for i, name in enumerate(self.names()):
            lines += [
                f"  {name}:",
                f"    image: {self.image}",
                f"    container_name: {name}",
                f"    command: {command}",
                "    environment:",
            ]
            lines += [f"      {k}: {_q(v)}" for k, v in self.thv_like_env(i, changed).items()]
            lines += ["    labels:"]
            lines += [f"      {k}: {_q(v)}" for k, v in self.thv_like_labels(name).items()]
            lines += [
                "    stdin_open: true",
                f"    network_mode: {self.network}",
                "    cap_drop: [ALL]",
                '    security_opt: ["label:disable"]',
                "    restart: unless-stopped",
            ]
        return "\n".join(lines) + "\n"
