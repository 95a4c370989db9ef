"""The ``thv`` Typer app and what its commands share.

The option types, the option groups the declarative commands share (each declared once), the
one confirmation prompt, the parsers of ``KEY=VALUE`` and ``NAME,target=ENV`` flags, and
:func:`run_app`, which turns expected errors into one line on stderr.

Exit codes: 0 success; 1 any error (bad file, engine unreachable, failed action, refused
confirmation, usage error); 2 only from ``plan --detailed-exitcode`` when changes are
pending.  Errors are one sentence on stderr (``error: …``), plus ``hint: …`` when useful.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import typing
from collections.abc import Callable, Collection, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from ..errors import ThvError
from ..plan.risk import Risk

app = typer.Typer(
    name="thv",
    help="Run MCP servers in containers the way ToolHive does, declaratively.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# -- options ----------------------------------------------------------------------------------
Files = Annotated[
    list[Path] | None,
    typer.Option(
        "-f", "--file", help="Workloads file (repeatable; later files merge over earlier)."
    ),
]
EnvFiles = Annotated[
    list[Path] | None,
    typer.Option("--env-file", help="Env file for interpolation (repeatable; default: .env)."),
]
Project = Annotated[
    str | None, typer.Option("-p", "--project", help="Project name (overrides the file).")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
Adopt = Annotated[
    bool,
    typer.Option(
        "--adopt",
        help="Take unmanaged workloads (made by ToolHive or thv run) named like a server "
        "under this project; those that match are not recreated.",
    ),
]
Strict = Annotated[
    bool,
    typer.Option(
        "--strict", help="A group's MCP client that is not installed here is an error, not skipped."
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="Registry (path or URL) for 'server:' entries; wins over the file's."
    ),
]
Parallelism = Annotated[
    int, typer.Option("--parallelism", min=1, max=64, help="Actions run at the same time.")
]
Timeout = Annotated[
    float, typer.Option("--timeout", min=1, help="Seconds one action may take before it fails.")
]
Many = list[str] | None  # a repeatable option's values


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


FormatOpt = Annotated[PlanFormat, typer.Option("--format", help="text, json or markdown.")]


class Allowable(StrEnum):
    """The risk classes that ask before they run, and so can be allowed up front."""

    privilege_widening = "privilege-widening"


Deny = Annotated[
    list[Risk] | None,
    typer.Option(
        "--deny",
        help="Exit 1 when any action has this risk class (repeatable): the CI policy gate.",
    ),
]
Allow = Annotated[
    list[Allowable] | None,
    typer.Option(
        "--allow",
        help="Grant privilege-widening actions without the second question (needed, with "
        "--yes, off a terminal).",
    ),
]


class OptionGroup:
    """Options several commands take, declared once as a dataclass of this kind.

    A command parameter annotated with a group stands for the group's fields, in their order,
    each an option of the command; the command receives the group's instance
    (:func:`option_groups`)."""

    __slots__ = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Source(OptionGroup):
    """The workloads files and the project (``plan``, ``apply``, ``down``, ``validate``)."""

    files: Files = None
    env_file: EnvFiles = None
    project: Project = None


@dataclasses.dataclass(frozen=True, slots=True)
class Execution(OptionGroup):
    """How ``apply`` and ``down`` carry out their plan."""

    yes: Yes = False
    parallelism: Parallelism = 8
    timeout: Timeout = 300.0


R = TypeVar("R")


def option_groups(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` as Typer sees it: each :class:`OptionGroup` parameter replaced by the
    group's fields (in place, so the options keep their order in ``--help``), and called with
    the group built from them."""
    hints = typing.get_type_hints(command, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[Any], list[str]]] = {}
    for param in inspect.signature(command).parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if isinstance(annotation, type) and issubclass(annotation, OptionGroup):
            fields = dataclasses.fields(annotation)  # type: ignore[arg-type]
            field_hints = typing.get_type_hints(annotation, include_extras=True)
            groups[param.name] = (annotation, [f.name for f in fields])
            params += [
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                    annotation=field_hints[f.name],
                )
                for f in fields
            ]  # fmt: skip
        else:
            keyword = inspect.Parameter.KEYWORD_ONLY
            params.append(param.replace(kind=keyword, annotation=annotation))

    @functools.wraps(command)
    def expanded(**options: Any) -> R:
        for name, (group, fields) in groups.items():
            options[name] = group(**{field: options.pop(field) for field in fields})
        return command(**options)

    expanded.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in params}
    return expanded


# -- shared steps -----------------------------------------------------------------------------
def confirm(
    question: str,
    *,
    yes: bool,
    refusal: str,
    cancelled: str,
    hint: str | None = None,
    accept: Collection[str] = ("yes",),
) -> None:
    """Go on only with ``--yes`` or an accepted answer to ``question``; off a terminal, refuse
    (``refusal``, ``hint``) rather than assume."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ThvError(refusal, hint=hint)
    if input(question).strip() not in accept:
        raise ThvError(cancelled)


def pair(text: str, flag: str) -> tuple[str, str]:
    """``KEY=VALUE`` of ``flag``."""
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise ThvError(f"invalid {flag} {text!r}: expected KEY=VALUE")
    return key, value


def secret_ref(text: str) -> tuple[str, dict[str, str]]:
    """``NAME,target=ENV``: the value comes from $TOOLHIVE_SECRET_NAME (ToolHive's
    environment provider), else from $NAME."""
    name, sep, target = text.partition(",target=")
    if not sep or not name or not target:
        raise ThvError(f"invalid --secret {text!r}: expected NAME,target=ENV_VAR")
    provider = f"TOOLHIVE_SECRET_{name}"
    return target, {"env": provider if provider in os.environ else name}


# -- running the app --------------------------------------------------------------------------
def run_app(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the app on ``argv`` (default: the process's); expected errors are one line."""
    click = _click()
    try:
        code = app(
            args=list(argv) if argv is not None else None, prog_name="thv", standalone_mode=False
        )
    except ThvError as exc:
        _fail(exc.message, exc.hint, exc.exit_code)
    except click.exceptions.UsageError as exc:
        _fail(exc.format_message(), "run 'thv --help' for usage", 1)
    except click.exceptions.Abort:
        _fail("aborted", None, 1)
    except KeyboardInterrupt:
        _fail("interrupted", None, 130)
    sys.exit(code if isinstance(code, int) else 0)


def _click() -> Any:
    """The click that typer raises from: its own copy since typer 0.28, click before."""
    try:
        from typer import _click as vendored  # type: ignore[attr-defined]
    except ImportError:
        import click

        return click
    return vendored


def _fail(message: str, hint: str | None, code: int) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.exit(code)
