#!/usr/bin/env bash
# Make sure `systemd-analyze` exists: the tests verify the unit `thv service install` writes
# with it. Quiet and immediate when it is there; otherwise, as root, install Debian's systemd
# package (its tools only: nothing is started, PID 1 stays what it is).
set -euo pipefail

command -v systemd-analyze >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-systemd-analyze: systemd-analyze is missing; the unit verification test will skip" >&2
  exit 0
fi
apt_log=/var/log/thc-apt-systemd.log
echo "ensure-systemd-analyze: installing systemd with apt-get (log: $apt_log)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd; } \
    >"$apt_log" 2>&1; then
  tail -n 20 "$apt_log" >&2
  echo "ensure-systemd-analyze: apt-get install systemd failed (log: $apt_log)" >&2
  exit 1
fi
