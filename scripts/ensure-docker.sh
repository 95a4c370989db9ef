#!/usr/bin/env bash
# Make sure a Docker engine answers. Quiet and immediate when one already does (DOCKER_HOST is
# honoured). Otherwise, as root: install docker.io with apt-get if dockerd or the docker CLI is
# missing, start dockerd in the background (log: $THC_DOCKERD_LOG, default
# /var/log/thc-dockerd.log) and wait up to $THC_DOCKERD_WAIT seconds (default 60) for it.
set -euo pipefail

log=${THC_DOCKERD_LOG:-/var/log/thc-dockerd.log}
wait_s=${THC_DOCKERD_WAIT:-60}
pidfile=/var/run/docker.pid

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

start_dockerd() {
  echo "ensure-docker: starting dockerd (log: $log)"
  mkdir -p "$(dirname "$log")"
  setsid nohup dockerd >>"$log" 2>&1 </dev/null &
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
      tail -n 20 "$log" >&2 2>/dev/null || true
      if dockerd_alive; then
        die "dockerd (pid $(cat "$pidfile")) runs but did not answer within ${wait_s}s; if it is wedged, stop it and run this again (log: $log)."
      fi
      die "dockerd did not answer within ${wait_s}s (log: $log)."
    fi
    if ((SECONDS - start >= 5)) && ! dockerd_alive; then
      tail -n 20 "$log" >&2 2>/dev/null || true
      die "dockerd exited while starting (log: $log)."
    fi
    sleep 1
  done
  echo "ensure-docker: the Docker engine answers."
}

main "$@"
