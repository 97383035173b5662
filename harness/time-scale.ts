// How long a test may wait for something a real process does (a fixture getting ready, a CLI
// run ending, a record arriving) is written for this machine; where everything runs several
// times slower, MEMWATCHER_TEST_TIME_SCALE stretches every such limit by one factor. The
// kernel-matrix guests export it (test/kernels/run: software emulation on a shared host). A
// limit only bounds a wait: what a test asserts does not change with it.

function readScale(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`MEMWATCHER_TEST_TIME_SCALE must be a positive number, not "${raw}"`);
  return n;
}

export const TIME_SCALE = readScale(process.env.MEMWATCHER_TEST_TIME_SCALE);

/** A time limit in ms, as written for this machine, stretched for the one the test runs on. */
export function scaled(ms: number): number {
  return Math.ceil(ms * TIME_SCALE);
}
