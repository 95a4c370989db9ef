"""The names and references a workload may use: one set of rules for files, flags and the library.

- **Workload (server) names**: ToolHive's ``ValidateWorkloadName``
  (``pkg/workloads/types/validate.go``), checked in its order — not empty, no NUL byte, no
  path to normalise, no traversal or absolute path, no ``$ & ; |``, ``$(`` or backquote, only
  ``[a-zA-Z0-9._-]``, at most 100 characters — plus the container engine's rule for
  container names: a letter or digit first, and at least two characters
  (``[a-zA-Z0-9][a-zA-Z0-9_.-]+``).  The first-character rule holds for new remote workloads
  too: a name that starts with ``-`` would read as an option on every command line.  A name
  that looks up an existing workload (``thv stop NAME``) needs ToolHive's rules only — so
  every workload ToolHive can make stays reachable — and must not start with ``-``.
- **Group names**: toolhive-core's ``validation/group.ValidateName``, same order and rules.
- **Image references**: the distribution reference grammar (``github.com/distribution/reference``,
  ``reference.go``/``regexp.go``/``normalize.go``) as the engine parses an image it is given:
  ``[domain[:port]/]path[:tag][@digest]``, a lowercase repository path, a tag of at most 128
  characters, a digest of a known algorithm, at most 255 characters of name; or a bare
  64-hex image id, or a ``sha256:…`` digest alone.

Each ``*_problem`` function returns the sentence saying why a value is refused, or None.
"""

from __future__ import annotations

import re

from ..errors import ThvError

MAX_WORKLOAD_NAME = 100
_WORKLOAD_CHARS = re.compile(r"^[a-zA-Z0-9._-]+$")
_DANGEROUS = re.compile(r"[$&;|]|\$\(|`")
# JSON Schema form of the same rule, for editors (schemas/workloads.schema.json mirrors it).
SERVER_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"

_GROUP_CHARS = re.compile(r"^[a-z0-9_\-\t\n\f\r ]+$")  # Go RE2's \s is [\t\n\f\r ]


# -- workload names ---------------------------------------------------------------------------
def workload_name_problem(
    name: str, *, container: bool = True, existing: bool = False
) -> str | None:
    """Why ``name`` cannot name a new workload (``container``: it also names a container),
    or (``existing``) look one up; None when it can."""
    if not name:
        return "a workload name cannot be empty"
    toolhive = _toolhive_workload_problem(name)
    if toolhive:
        return f"invalid workload name {name!r}: {toolhive}"
    if existing:
        return f"invalid workload name {name!r}: it starts with '-'" if name[0] == "-" else None
    if not name[0].isascii() or not name[0].isalnum():
        return f"invalid workload name {name!r}: it must start with a letter or digit"
    if container and len(name) < 2:
        return f"invalid workload name {name!r}: the container engine needs at least two characters"
    return None


def _toolhive_workload_problem(name: str) -> str | None:
    """ToolHive's ValidateWorkloadName, its first failing rule (name not empty)."""
    if "\x00" in name:
        return "it contains a NUL byte"
    clean = _go_clean(name)
    if clean != name:
        return "it is a path that needs normalising"
    if clean.startswith(("..", "/")):
        return "it is a path that leaves its directory"
    if _DANGEROUS.search(name):
        return "it contains characters a shell would interpret ($ & ; | $( `)"
    if not _WORKLOAD_CHARS.match(name):
        return "only letters, digits, '.', '_' and '-' are allowed"
    if len(name.encode()) > MAX_WORKLOAD_NAME:
        return f"it is longer than {MAX_WORKLOAD_NAME} characters"
    return None


def _go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Unix (only what a name can tell apart)."""
    import posixpath

    clean = posixpath.normpath(path)
    return "/" + clean.lstrip("/") if clean.startswith("//") else clean


def check_workload_name(name: str, *, container: bool = True, existing: bool = False) -> str:
    """``name`` when it can name a workload (see :func:`workload_name_problem`); otherwise
    :class:`ThvError`."""
    problem = workload_name_problem(name, container=container, existing=existing)
    _refuse(problem, hint=_NAME_HINT if name.startswith("-") else None)
    return name


_NAME_HINT = "names start with a letter or digit; to pass an option, see the command's --help"


# -- group names ------------------------------------------------------------------------------
def group_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a group (toolhive-core's rules, in its order)."""
    if not name.strip():
        return "a group name cannot be empty or only whitespace"
    if "\x00" in name:
        return f"invalid group name {name!r}: it contains a NUL byte"
    if name != name.lower():
        return f"invalid group name {name!r}: it must be lowercase"
    if not _GROUP_CHARS.match(name):
        return (
            f"invalid group name {name!r}: only lowercase letters, digits, '_', '-' and spaces "
            "are allowed"
        )
    if name != name.strip():
        return f"invalid group name {name!r}: it cannot start or end with whitespace"
    if "  " in name:
        return f"invalid group name {name!r}: it cannot contain two spaces in a row"
    return None


def check_group_name(name: str) -> str:
    """``name`` when it can name a group; otherwise :class:`ThvError`."""
    _refuse(group_name_problem(name))
    return name


# -- image references -------------------------------------------------------------------------
# The grammar of github.com/distribution/reference (regexp.go), written out:
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = f"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = f"{_DOMAIN_COMPONENT}(?:\\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = f"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_NAME = f"(?:{_DOMAIN}/)?{_REMOTE_NAME}"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REFERENCE = re.compile(f"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$", re.ASCII)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
NAME_TOTAL_LENGTH_MAX = 255
# go-digest's registered algorithms and the length of their lowercase hex encoding
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


def image_problem(image: str) -> str | None:
    """Why the engine would refuse ``image`` as an image reference, or None."""
    if not image:
        return "an image reference cannot be empty"
    if _IDENTIFIER.match(image) or (image.startswith("sha") and _digest_problem(image) is None):
        return None  # an image id, or a digest alone (ParseAnyReference)
    why = _reference_problem(image)
    return f"invalid image reference {image!r}: {why}" if why else None


def _reference_problem(image: str) -> str | None:
    """ParseNormalizedNamed: split off Docker Hub's domain, then Parse the whole."""
    domain, remainder = _split_docker_domain(image)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        return f"the repository name ({remote}) must be lowercase"
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if match is None:
        if _REFERENCE.match(f"{domain}/{remainder}".lower()):
            return "the repository name must be lowercase"
        return (
            "not [registry[:port]/]repository[:tag][@digest] (lowercase letters, digits and "
            "separators . _ __ - in the repository; a tag of letters, digits, '_', '.', '-')"
        )
    if len(match.group(1)) > NAME_TOTAL_LENGTH_MAX:
        return f"the repository name is longer than {NAME_TOTAL_LENGTH_MAX} characters"
    return _digest_problem(match.group(3)) if match.group(3) else None


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if not slash:
        return "docker.io", f"library/{name}"
    if first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, rest
    elif first == "index.docker.io":
        domain, remote = "docker.io", rest
    else:
        domain, remote = "docker.io", name
    if domain == "docker.io" and "/" not in remote:
        remote = f"library/{remote}"
    return domain, remote


def _digest_problem(digest: str) -> str | None:
    algorithm, _, encoded = digest.partition(":")
    size = _DIGEST_HEX.get(algorithm)
    if size is None:
        return f"unsupported digest algorithm {algorithm!r} (sha256, sha384 or sha512)"
    if len(encoded) != size or not re.fullmatch(r"[a-f0-9]+", encoded):
        return f"a {algorithm} digest is {size} lowercase hexadecimal digits"
    return None


def check_image(image: str) -> str:
    """``image`` when the engine would accept it; otherwise :class:`ThvError`."""
    _refuse(image_problem(image))
    return image


def _refuse(problem: str | None, *, hint: str | None = None) -> None:
    if problem:
        raise ThvError(problem, hint=hint)
