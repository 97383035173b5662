// Kernel timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC, as process.hrtime) to wall time.

/** Wall-clock milliseconds of a bpf_ktime_get_ns() stamp. */
export function monotonicToWallMs(tsNs: bigint, nowWallMs = Date.now(), nowMonoNs = process.hrtime.bigint()): number {
  return nowWallMs - Number(nowMonoNs - tsNs) / 1e6;
}

/** [seconds, nanoseconds] since the epoch of a bpf_ktime_get_ns() stamp (OpenTelemetry's HrTime). */
export function monotonicToWall(tsNs: bigint): [number, number] {
  const wall = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint() + tsNs;
  return [Number(wall / 1_000_000_000n), Number(wall % 1_000_000_000n)];
}
