#!/bin/sh
# Entry point of the demo's mem-watcher container: waits for the `leaky` demo process, then
# runs mem-watcher with the four metric probes plus memleak on every process of that name.
#
# mem-watcher runs with `pid: host`, so /proc here is the host's: the leaky container's process
# shows up under its host PID, which is what `-l` takes. Extra arguments are passed on, e.g.
#   docker compose run --rm mem-watcher --interval 2
set -eu

name="${LEAKY_COMM:-leaky}"
wait_s="${LEAKY_WAIT_SECONDS:-60}"

find_pids() {
  for d in /proc/[0-9]*; do
    if [ "$(cat "$d/comm" 2>/dev/null || true)" = "$name" ]; then
      printf ' -l %s' "${d#/proc/}"
    fi
  done
}

flags=""
while :; do
  flags="$(find_pids)"
  [ -n "$flags" ] && break
  if [ "$wait_s" -le 0 ]; then
    echo "watch-leaky: no process named '$name' (is the leaky service up?); running without memleak" >&2
    break
  fi
  wait_s=$((wait_s - 1))
  sleep 1
done
[ -n "$flags" ] && echo "watch-leaky: tracing leaks of '$name':$flags" >&2

# $flags is deliberately unquoted: it is a list of "-l PID" words.
# shellcheck disable=SC2086
exec node /app/src/cli/main.ts --sysstat --procstat --paf --pr $flags "$@"
