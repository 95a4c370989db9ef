"""The ``thv`` Typer app and what its commands share.

The option types, the option groups the declarative commands share (each declared once), the
one confirmation prompt, the parsers of ``KEY=VALUE`` and ``NAME,target=ENV`` flags, and
:func:`run_app`, which turns expected errors into one line on stderr.

Exit codes: 0 success; 1 any error (bad file, engine unreachable, failed action, refused
confirmation or end of input at a prompt, usage error); 2 only from ``plan
--detailed-exitcode`` when changes are pending; 130 interrupted (Ctrl-C).  Errors are one
sentence on stderr (``error: …``), plus ``hint: …`` when useful; an unexpected exception is
one line plus the path of a debug log holding its traceback (:mod:`.crash`).

Nothing here imports a private module of typer or click: usage errors are recognised by the
interface click documents for them (``format_message()``), and Ctrl-C and end of input are
caught in the command group (:class:`Group`) before typer turns them into bare exit codes.
"""

from __future__ import annotations

import contextlib
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
import typer.core

from ..errors import Interrupted, ThvError
from ..plan.risk import Risk


class Group(typer.core.TyperGroup):
    """The ``thv`` group: Ctrl-C anywhere in a command is :class:`Interrupted` (exit 130, one
    line), end of input an error (exit 1) — typer would make them a silent 130 and
    ``Aborted!``."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if sys.stderr.isatty():  # after the terminal's ^C
                sys.stderr.write("\n")
            raise Interrupted("interrupted") from None
        except EOFError:
            raise ThvError("end of input") from None


class NamesCommand(typer.core.TyperCommand):
    """A command whose arguments are names: a word that starts with ``-`` but is none of its
    options (``thv stop -rf``) is a name — refused by the name rules in one sentence —
    rather than options ``-r -f`` or a parse error."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        known = {o for p in self.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
        options, names = [], []
        for index, arg in enumerate(args):
            if arg == "--":
                names.extend(args[index + 1 :])
                break
            if arg.startswith("-") and arg != "-" and not _is_option(arg, known):
                names.append(arg)
            else:
                options.append(arg)
        return super().parse_args(ctx, [*options, "--", *names] if names else options)


def _is_option(arg: str, known: set[str]) -> bool:
    """``--flag``, ``--opt=value``, ``-f`` or several known one-letter flags (``-af``)."""
    if arg.split("=", 1)[0] in known:
        return True
    return not arg.startswith("--") and all(f"-{c}" in known for c in arg[1:])


app = typer.Typer(
    name="thv",
    cls=Group,
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
    (``refusal``, ``hint``) rather than assume.  End of input (Ctrl-D) is ``cancelled``, exit
    1; Ctrl-C is ``cancelled``, exit 130 — either way nothing has been done."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ThvError(refusal, hint=hint)
    try:
        answer = input(question)
    except EOFError:
        sys.stderr.write("\n")  # end the prompt's line
        raise ThvError(f"{cancelled} (end of input)") from None
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise Interrupted(f"{cancelled} (interrupted)") from None
    if answer.strip() not in accept:
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


def changing(command: str) -> contextlib.AbstractContextManager[None]:
    """The state lock, held by a command that changes workloads (``command``: ``thv stop``)."""
    from ..paths import Paths
    from ..state import state_lock

    return state_lock(Paths.from_env().ours, operation=command)


# -- running the app --------------------------------------------------------------------------
def run_app(argv: Sequence[str] | None = None, *, debug: bool = False) -> NoReturn:
    """Run the app on ``argv`` (default: the process's); expected errors are one line, an
    unexpected one a line and a debug log (``debug`` or ``$THV_DEBUG``: the traceback on
    stderr)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        code = app(args=args, prog_name="thv", standalone_mode=False)
    except ThvError as exc:
        _fail(exc.message, exc.hint, exc.exit_code)
    except typer.Abort:
        _fail("aborted", None, 1)
    except KeyboardInterrupt:  # outside a command (while typer parses)
        _fail("interrupted", None, 130)
    except BrokenPipeError:  # the reader went away (`thv list | head -1`): stop quietly
        _reader_gone()
    except Exception as exc:
        format_message = getattr(exc, "format_message", None)
        ctx = getattr(exc, "ctx", None)
        if callable(format_message) and ctx is not None and format_message() == ctx.get_help():
            sys.stdout.write(format_message() + "\n")  # a command group without its command
            sys.exit(0)
        if callable(format_message):  # click's (or typer's copy of click's) own errors
            usage = getattr(exc, "exit_code", 1) == 2  # click's code for usage errors
            _fail(str(format_message()), usage_hint(args) if usage else None, 1)
        from .crash import debug_wanted, report

        report(exc, args, debug=debug or debug_wanted())
        sys.exit(1)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()
    sys.exit(code if isinstance(code, int) else 0)


# Options users bring from Terraform, and ours that do the same.
FAMILIAR_OPTIONS = {
    "auto-approve": "--yes (-y)",  # terraform apply -auto-approve
    "var-file": "--env-file",  # terraform -var-file
}


def usage_hint(args: Sequence[str]) -> str:
    """The hint under a usage error: ours for an option another tool has, else the help."""
    for arg in args:
        if arg.startswith("-") and (ours := FAMILIAR_OPTIONS.get(arg.lstrip("-").split("=")[0])):
            return f"thv takes {ours} where Terraform takes {arg.split('=')[0]}"
    return "run 'thv --help' for usage"


def _reader_gone() -> NoReturn:
    """Exit 1 quietly (as click does for a write it sees fail), without the interpreter's
    complaint about the unflushed rest when it closes stdout."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


def _fail(message: str, hint: str | None, code: int) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.exit(code)
