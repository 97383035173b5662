#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu host lacks, saying what it installs, then builds the BPF
# objects. Idempotent and quiet when nothing is missing. `--test` adds what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "mem-watcher setup: $*" >&2; }

need_pkgs=()
command -v clang >/dev/null || need_pkgs+=(clang)
command -v llvm-strip >/dev/null || need_pkgs+=(llvm)
command -v bpftool >/dev/null || need_pkgs+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || need_pkgs+=(libbpf-dev)
if [ "${1:-}" = "--test" ]; then
  command -v prometheus >/dev/null || need_pkgs+=(prometheus)
  command -v bpftrace >/dev/null || need_pkgs+=(bpftrace)
  command -v gcc >/dev/null || need_pkgs+=(gcc)
  command -v docker-compose >/dev/null || need_pkgs+=(docker-compose)
  command -v setpriv >/dev/null || need_pkgs+=(util-linux)
  command -v capsh >/dev/null || need_pkgs+=(libcap2-bin)
  # Real programs nobody here wrote, as Debian builds them, for memleak's tests: redis-server
  # (linked with jemalloc), jemalloc and tcmalloc under a C++ program, readelf as an oracle.
  command -v g++ >/dev/null || need_pkgs+=(g++)
  command -v readelf >/dev/null || need_pkgs+=(binutils)
  [ -x /usr/bin/redis-server ] || need_pkgs+=(redis-server)
  [ -e /usr/include/jemalloc/jemalloc.h ] || need_pkgs+=(libjemalloc-dev)
  ls /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1 || need_pkgs+=(libtcmalloc-minimal4)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "missing Debian packages: ${need_pkgs[*]}; install them (apt-get install ${need_pkgs[*]}) as root"
    exit 2
  fi
  say "installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

if [ ! -x node_modules/.bin/node ] || [ ! -d node_modules/koffi ]; then
  say "installing npm dependencies (npm ci), including Node.js 24"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# tracefs holds the GFP flag table paf decodes with; mount it where a host has not.
if [ "$(id -u)" = 0 ] && [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi

bash scripts/build-bpf.sh
