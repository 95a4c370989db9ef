"""Bringing workloads back at boot: a systemd unit that runs ``thv service run``.

:mod:`.units` renders the unit (pure); :mod:`.systemd` writes it where systemd looks (a user
unit, or a system unit as root), enables it and reports on it through ``systemctl``.  The
``thv service`` commands are :mod:`toolhive_compose.cli.service`.
"""
