"""Run ``thv`` in-process and capture what it prints (``capsys`` does the capturing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolhive_compose.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def thv(capsys: Any, *args: str) -> Result:
    """``thv ARGS…``: the exit code and everything written to stdout and stderr."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
