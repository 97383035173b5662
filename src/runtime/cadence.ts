// Once per interval on a poll timer: due at fixed times (start + k * period), so the period
// neither slips by a poll each time nor shrinks when something polls more often than the timer.
export class Cadence {
  readonly periodMs: number;
  #next = -Infinity;

  constructor(periodMs: number) {
    this.periodMs = periodMs;
  }

  /** Whether a sample is due at `nowMs`; if so, the next one is scheduled. */
  due(nowMs: number): boolean {
    // A few ms early still counts: timers and Date.now() round differently.
    if (nowMs < this.#next - EARLY_MS) return false;
    // Keep the schedule, unless a stall put it a whole period behind: then restart from now.
    this.#next = nowMs - this.#next < this.periodMs ? this.#next + this.periodMs : nowMs + this.periodMs;
    return true;
  }
}

const EARLY_MS = 5;
