#!/usr/bin/env bash
# Compiles bpf/*.bpf.c into build/bpf (vmlinux.h generated from this host's BTF).
set -euo pipefail
cd "$(dirname "$0")/../bpf"
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  echo "mem-watcher build: /sys/kernel/btf/vmlinux is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF, which CO-RE needs" >&2
  exit 2
fi
command -v make >/dev/null || { echo "mem-watcher build: make is missing: apt-get install make" >&2; exit 2; }
make -s
