"""Where systemd keeps units and how ``systemctl`` is asked (user units, or system as root).

systemd must be running (``/run/systemd/system`` exists, as ``sd_booted()`` checks) and
``systemctl`` installed; otherwise :meth:`Systemd.for_this_machine` raises one clear error
and nothing is written.  An install writes the unit atomically, reloads systemd and enables
the unit; if enabling fails the unit file is removed again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFound, ThvError
from ..state.atomic import atomic_write
from .units import PREFIX, Unit, exec_start, render

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
NO_SYSTEMD_HINT = (
    "start the workloads at boot another way: run `thv service run` from an init script, "
    "or from cron with @reboot"
)


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)


@dataclass(frozen=True, slots=True)
class Installed:
    name: str
    path: Path
    enabled: str  # what `systemctl is-enabled` says
    active: str  # what `systemctl is-active` says
    command: str  # ExecStart


@dataclass(frozen=True, slots=True)
class Systemd:
    system: bool  # system units (root) or the user's units
    unit_dir: Path
    run: Runner = _run

    @classmethod
    def for_this_machine(
        cls, environ: Mapping[str, str] | None = None, root: Path = Path("/")
    ) -> Systemd:
        env = os.environ if environ is None else environ
        if not (root / "run" / "systemd" / "system").is_dir():
            raise ThvError(
                "systemd is not running on this machine, so thv service has nothing to "
                "install a unit into (nothing was written)",
                hint=NO_SYSTEMD_HINT,
            )
        if shutil.which("systemctl", path=env.get("PATH")) is None:
            raise ThvError(
                "systemctl is not installed, so thv service cannot manage a unit "
                "(nothing was written)",
                hint=NO_SYSTEMD_HINT,
            )
        if os.geteuid() == 0:
            return cls(True, root / "etc" / "systemd" / "system")
        config = env.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
        return cls(False, Path(config) / "systemd" / "user")

    def path(self, name: str) -> Path:
        return self.unit_dir / name

    def install(self, unit: Unit) -> Path:
        path = self.path(unit.name)
        existed = path.read_bytes() if path.exists() else None
        atomic_write(path, render(unit).encode(), mode=0o644, dir_mode=0o755)
        try:
            self.systemctl("daemon-reload")
            self.systemctl("enable", unit.name)
        except ThvError:
            if existed is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, existed, mode=0o644, dir_mode=0o755)
            self.systemctl("daemon-reload", check=False)
            raise
        return path

    def uninstall(self, name: str) -> Path:
        path = self.path(name)
        if not path.exists():
            raise NotFound(
                f"no unit {name} is installed in {self.unit_dir}", hint="thv service status"
            )
        self.systemctl("disable", name, check=False)
        path.unlink()
        self.systemctl("daemon-reload")
        return path

    def installed(self) -> list[Installed]:
        found = []
        for path in sorted(self.unit_dir.glob(f"{PREFIX}*.service")):
            found.append(
                Installed(
                    path.name,
                    path,
                    self.systemctl("is-enabled", path.name, check=False) or "unknown",
                    self.systemctl("is-active", path.name, check=False) or "unknown",
                    exec_start(path.read_text(errors="replace")),
                )
            )
        return found

    def systemctl(self, *args: str, check: bool = True) -> str:
        """Run ``systemctl [--user] ARGS``; its output's first line."""
        command = ["systemctl", *([] if self.system else ["--user"]), *args]
        done = self.run(command)
        if check and done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            raise ThvError(f"{' '.join(command)} failed: {why[0] if why else 'no reason given'}")
        return (done.stdout or "").strip().splitlines()[0] if (done.stdout or "").strip() else ""
