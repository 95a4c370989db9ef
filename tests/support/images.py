"""Test images, built locally by ``scripts/build-images.sh`` (no registry is needed).

``ensure_busybox_image()``, ``ensure_mcp_image(version)`` and ``ensure_surface_image(variant)``
build what is missing or stale and return the tag. They are cheap once the image exists, and
safe to call from several pytest processes at once: the script holds a file lock while it builds.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-images.sh"

BUSYBOX_IMAGE = "thc-test/busybox:1"
MCP_IMAGE_REPO = "thc-test/mcp-py"
MCP_IMAGE_VERSIONS = (1, 2)
MCP_IMAGE = f"{MCP_IMAGE_REPO}:1"
SURFACE_IMAGE_REPO = "thc-test/mcp-surface"  # tests/support/mcp_surface_server.py
SURFACE_VARIANTS = ("1", "2", "flip")


def _cache_dir() -> Path:
    """Where the build script keeps its rootfs tarball, from the environment at import time.

    Resolved once, before any test fixture points HOME or XDG_CACHE_HOME at a temporary
    directory, so builds started from tests share the real cache.
    """
    if os.environ.get("THC_CACHE_DIR"):
        return Path(os.environ["THC_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "toolhive-compose"


CACHE_DIR = _cache_dir()


def mcp_image(version: int = 1) -> str:
    if version not in MCP_IMAGE_VERSIONS:
        raise ValueError(f"no mcp test image version {version}; have {MCP_IMAGE_VERSIONS}")
    return f"{MCP_IMAGE_REPO}:{version}"


@functools.cache
def _build(target: str) -> None:
    env = {**os.environ, "THC_CACHE_DIR": str(CACHE_DIR)}
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), target],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise RuntimeError(f"building the {target} test image failed:\n{output}")


def ensure_busybox_image() -> str:
    _build("busybox")
    return BUSYBOX_IMAGE


def ensure_mcp_image(version: int = 1) -> str:
    tag = mcp_image(version)
    _build("mcp")
    return tag


def ensure_surface_image(variant: str = "1") -> str:
    """``thc-test/mcp-surface:<variant>``: 1, 2 (a changed description, one more tool) or flip
    (changes on a call, then announces it)."""
    if variant not in SURFACE_VARIANTS:
        raise ValueError(f"no surface test image {variant!r}; have {SURFACE_VARIANTS}")
    _build("surface")
    return f"{SURFACE_IMAGE_REPO}:{variant}"
