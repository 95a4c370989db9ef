#!/usr/bin/env bash
# Make sure a Docker engine answers. Quiet and immediate when one already does (DOCKER_HOST is
# honoured). Otherwise, as root: install docker.io with apt-get if dockerd or the docker CLI is
# missing, start dockerd in the background (log: $THC_DOCKERD_LOG, default
# /var/log/thc-dockerd.log) and wait up to $THC_DOCKERD_WAIT seconds (default 120) for it.
# A machine restored from a snapshot may keep a stale /var/run/docker.pid and a cold disk on
# which dockerd takes seconds before it logs a line: the wait follows the process started here
# (not the pid file), and only its exit ends the wait early.
set -euo pipefail

log=${THC_DOCKERD_LOG:-/var/log/thc-dockerd.log}
wait_s=${THC_DOCKERD_WAIT:-120}
pidfile=${THC_DOCKERD_PIDFILE:-/var/run/docker.pid}  # where dockerd writes its pid

die() { echo "ensure-docker: $*" >&2; exit 1; }

engine_answers() {  # engine_answers [TIMEOUT_S]
  command -v docker >/dev/null && timeout "${1:-15}" docker info >/dev/null 2>&1
}

dockerd_alive() {  # a local dockerd, perhaps still starting up
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

install_docker() {
  local apt_log=/var/log/thc-apt-docker.log
  echo "ensure-docker: installing docker.io with apt-get (log: $apt_log)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq docker.io; } >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "apt-get install docker.io failed (log: $apt_log)."
  fi
}

started_pid=
log_from=0

start_dockerd() {
  echo "ensure-docker: starting dockerd (log: $log)"
  mkdir -p "$(dirname "$log")"
  # A log grown past 10 MiB is kept once as $log.1; this start writes a fresh one.
  if [ "$(stat -c %s "$log" 2>/dev/null || echo 0)" -gt 10485760 ]; then
    mv -f "$log" "$log.1"
  fi
  log_from=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
  # A pid file naming no live dockerd (left by a machine snapshot or a killed engine) would
  # make dockerd refuse to start if its pid now belongs to another process.
  if [ -e "$pidfile" ] && ! dockerd_alive; then
    rm -f "$pidfile"
  fi
  setsid nohup dockerd >>"$log" 2>&1 </dev/null &
  started_pid=$!
}

starting() {  # the dockerd started here (or found starting) still runs
  if [ -n "$started_pid" ]; then
    kill -0 "$started_pid" 2>/dev/null
  else
    dockerd_alive
  fi
}

log_tail() {  # the last lines this start wrote
  tail -c +"$log_from" "$log" 2>/dev/null | tail -n 20 >&2 || true
}

main() {
  engine_answers && return 0
  case ${DOCKER_HOST:-unix:///var/run/docker.sock} in
    unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST." ;;
  esac
  [ "$(id -u)" -eq 0 ] || die "the Docker engine does not answer and only root can start one."
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    install_docker
  fi
  dockerd_alive || start_dockerd
  local start=$SECONDS
  until engine_answers 5; do
    if ((SECONDS - start >= wait_s)); then
      log_tail
      if starting; then
        die "dockerd (pid ${started_pid:-$(cat "$pidfile")}) runs but did not answer within ${wait_s}s; if it is wedged, stop it and run this again (log: $log)."
      fi
      die "dockerd did not answer within ${wait_s}s (log: $log)."
    fi
    if ! starting; then
      log_tail
      die "dockerd exited while starting (log: $log)."
    fi
    sleep 1
  done
  echo "ensure-docker: the Docker engine answers."
}

main "$@"
