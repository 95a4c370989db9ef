#!/usr/bin/env bash
# Build the test images into the local Docker engine (no registry needed):
#   thc-test/busybox:1   static busybox; its CMD sleeps forever but exits at once on SIGTERM
#                        (a bare `sleep` as PID 1 ignores it, so `docker stop` would take 10 s)
#   thc-test/mcp-py:1    Debian bookworm + python3 + mcp<2, ENTRYPOINT ["python3","/app/server.py"]
#   thc-test/mcp-py:2    the same with ENV SERVER_VERSION=2 (for upgrade tests)
#   thc-test/mcp-surface:{1,2,flip}  the same base with tests/support/mcp_surface_server.py and
#                        ENV SURFACE=1|2|flip: a tool surface that changes (lock and rug-pull tests)
#
# Usage: scripts/build-images.sh [all|busybox|mcp|surface]   (default: all)
#
# Images are cached by tag. Each carries a label thc-test.recipe; an image whose label differs
# from the current recipe is rebuilt. The mcp recipe includes the hash of
# tests/support/mcp_server.py, so editing the server rebuilds the images (in about a second).
# Bump BUSYBOX_RECIPE or MCP_ROOTFS_RECIPE when you change how those images are made.
# The mcp rootfs (debootstrap + mcp wheels) is cached as a tarball in $THC_CACHE_DIR
# (default ${XDG_CACHE_HOME:-~/.cache}/toolhive-compose), so only a first build runs debootstrap.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${THC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/toolhive-compose}

BUSYBOX_TAG=thc-test/busybox:1
BUSYBOX_RECIPE=2
BUSYBOX_APPLETS="sh sleep cat echo nc wget true false env printenv ls ps kill id hostname
  mkdir rm touch grep sed head tail date httpd"
MCP_REPO=thc-test/mcp-py
MCP_VERSIONS="1 2"
MCP_ROOTFS_RECIPE=1
MCP_SPEC='mcp<2'
MCP_ENTRYPOINT='ENTRYPOINT ["python3","/app/server.py"]'
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${THC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SERVER_SRC=$repo_root/tests/support/mcp_server.py
SURFACE_REPO=thc-test/mcp-surface
SURFACE_VARIANTS="1 2 flip"
SURFACE_SRC=$repo_root/tests/support/mcp_surface_server.py
BUSYBOX_CMD='CMD ["sh","-c","trap '"'exit 0'"' TERM INT; sleep infinity & wait"]'
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

work=
tmp_cid=

die() { echo "build-images: $*" >&2; exit 1; }

cleanup() {
  if [ -n "$tmp_cid" ]; then docker rm -f "$tmp_cid" >/dev/null 2>&1 || true; fi
  if [ -n "$work" ]; then
    # a failed debootstrap can leave /proc or /sys mounted inside the rootfs
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r \
      | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$work"
  fi
}

# run_logged NAME CMD...: run CMD with its output in $cache_dir/logs/NAME.log; on failure show
# the end of that log and stop.
run_logged() {
  local name=$1 log=$cache_dir/logs/$1.log
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    die "$name failed (full log: $log)."
  fi
}

apt_install() {
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install $*."
  export DEBIAN_FRONTEND=noninteractive
  run_logged apt-get-update apt-get update -qq
  run_logged apt-get-install apt-get install -y -qq --no-install-recommends "$@"
}

recipe_of() {  # recipe_of TAG: the thc-test.recipe label, or nothing
  docker image inspect --format '{{ index .Config.Labels "thc-test.recipe" }}' "$1" 2>/dev/null \
    || true
}

have_static_busybox() {
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1
}

build_busybox() {
  local recipe=busybox-$BUSYBOX_RECIPE root=$work/busybox applet
  [ "$(recipe_of "$BUSYBOX_TAG")" = "$recipe" ] && return 0
  have_static_busybox || apt_install busybox-static
  mkdir -p "$root/bin" "$root/tmp"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $BUSYBOX_APPLETS; do
    ln -s busybox "$root/bin/$applet"
  done
  tar --numeric-owner --owner=0 --group=0 -C "$root" -c . \
    | docker import -c "ENV PATH=$DEFAULT_PATH" -c "$BUSYBOX_CMD" \
        -c "LABEL thc-test.recipe=$recipe" - "$BUSYBOX_TAG" >/dev/null
  echo "build-images: built $BUSYBOX_TAG"
}

# A Python with pip to unpack the wheels: the project's .venv when there is one.
pip_python() {
  local py=${THC_PIP_PYTHON:-}
  [ -n "$py" ] || { [ -x "$repo_root/.venv/bin/python" ] && py=$repo_root/.venv/bin/python; } \
    || py=python3
  "$py" -m pip --version >/dev/null 2>&1 || die "$py has no pip; run scripts/setup.sh first."
  echo "$py"
}

pip_platform_args() {
  local arch minor
  arch=$(uname -m)
  echo "--platform any --platform manylinux2014_$arch"
  for minor in $(seq 17 36); do  # bookworm has glibc 2.36
    echo "--platform manylinux_2_${minor}_$arch"
  done
}

# The rootfs tarball: debootstrap minbase with python3, trimmed, plus mcp and its
# dependencies unpacked from manylinux wheels by the host's pip into /usr/local/lib/python3.11.
build_rootfs_tarball() {
  local tarball=$1 root=$work/rootfs site py
  py=$(pip_python)
  command -v debootstrap >/dev/null || apt_install debootstrap
  [ "$(id -u)" -eq 0 ] || die "need root to run debootstrap."
  echo "build-images: debootstrap $DEBIAN_SUITE (about a minute, cached afterwards)"
  run_logged debootstrap debootstrap --variant=minbase --include=python3 \
    "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/*
  site=$root/usr/local/lib/python3.11/dist-packages
  # shellcheck disable=SC2046  # word splitting of the platform flags is intended
  run_logged pip-install-mcp "$py" -m pip install --no-input --disable-pip-version-check \
    --target "$site" --only-binary=:all: --implementation cp --python-version 3.11 \
    --abi cp311 $(pip_platform_args) "$MCP_SPEC"
  rm -rf "${site:?}/bin"
  mkdir -p "$root/app"
  tar --numeric-owner -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
}

# The base image (rootfs without server.py), imported from the cached tarball.
ensure_mcp_base() {
  local base=$1 tarball=$cache_dir/mcp-rootfs-$2.tar
  docker image inspect "$base" >/dev/null 2>&1 && return 0
  [ -s "$tarball" ] || build_rootfs_tarball "$tarball"
  docker import -c "ENV PATH=$DEFAULT_PATH" -c 'WORKDIR /app' -c "$MCP_ENTRYPOINT" \
    "$tarball" "$base" >/dev/null
}

# build_server_images SRC REPO ENVVAR "VARIANTS": REPO:VARIANT for each variant, the mcp base
# with SRC as /app/server.py and ENV ENVVAR=VARIANT; skipped when every tag is current.
build_server_images() {
  local src=$1 repo=$2 var=$3 variants=$4 key recipe base variant current=yes
  [ -f "$src" ] || die "missing $src."
  key=$DEBIAN_SUITE-$(uname -m)-r$MCP_ROOTFS_RECIPE
  recipe=mcp-$key-$(sha256sum "$src" | cut -c1-16)
  for variant in $variants; do
    [ "$(recipe_of "$repo:$variant")" = "$recipe" ] || current=no
  done
  [ "$current" = yes ] && return 0
  base=$MCP_REPO-base:$key
  ensure_mcp_base "$base" "$key"
  tmp_cid=$(docker create "$base")
  docker cp "$src" "$tmp_cid:/app/server.py"
  for variant in $variants; do
    docker commit -c "ENV $var=$variant" -c "LABEL thc-test.recipe=$recipe" \
      "$tmp_cid" "$repo:$variant" >/dev/null
  done
  docker rm -f "$tmp_cid" >/dev/null 2>&1 || true
  tmp_cid=
  echo "build-images: built $repo:{${variants// /,}}"
}

build_mcp() {
  build_server_images "$SERVER_SRC" "$MCP_REPO" SERVER_VERSION "$MCP_VERSIONS"
}

build_surface() {
  build_server_images "$SURFACE_SRC" "$SURFACE_REPO" SURFACE "$SURFACE_VARIANTS"
}

main() {
  local target=${1:-all}
  case $target in
    all | busybox | mcp | surface) ;;
    *) die "unknown target '$target' (use all, busybox, mcp or surface)." ;;
  esac
  command -v docker >/dev/null || die "no docker command; run scripts/ensure-docker.sh first."
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "the Docker engine does not answer; run scripts/ensure-docker.sh first."
  mkdir -p "$cache_dir/logs"
  exec 9>"$cache_dir/build-images.lock"
  flock 9  # one builder at a time (several pytest workers may ask at once)
  work=$(mktemp -d "${TMPDIR:-/tmp}/thc-images.XXXXXX")
  trap cleanup EXIT
  if [ "$target" = all ] || [ "$target" = busybox ]; then build_busybox; fi
  if [ "$target" = all ] || [ "$target" = mcp ]; then build_mcp; fi
  if [ "$target" = all ] || [ "$target" = surface ]; then build_surface; fi
  # drop the untagged images that rebuilds left behind (those still in use are kept)
  docker image prune -f --filter label=thc-test.recipe >/dev/null
}

main "$@"
