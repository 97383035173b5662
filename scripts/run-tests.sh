#!/usr/bin/env bash
# Runs every test tier with the project's Node 24: unit tests (no root) in parallel, then the
# tests that need the kernel and the end-to-end ones one file at a time, so that accuracy
# checks against /proc see a quiet host. Extra arguments are passed to node --test.
set -euo pipefail
cd "$(dirname "$0")/.."
node=node_modules/.bin/node
shopt -s nullglob
unit=(test/unit/*.test.ts)
serial=(test/kernel/*.test.ts test/e2e/*.test.ts)
if [ "$(id -u)" != 0 ]; then
  echo "mem-watcher tests: the kernel and end-to-end tests load BPF programs and must run as root" >&2
  exit 2
fi
exec "$node" --test --test-reporter=spec --test-concurrency=1 "$@" "${unit[@]}" "${serial[@]}"
