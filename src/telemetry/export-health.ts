// Whether exports reach the backend: each push exporter's results, kept so /readyz can say the
// backend has been failing, for how long, and why.

/** The SDK's ExportResult (code 0: success), as its exporters call back with it. */
interface ExportResult {
  code: number;
  error?: Error;
}

interface Exporter<T> {
  export(items: T, done: (result: ExportResult) => void): void;
}

interface SignalState {
  /** Date.now() of the first failure since the last success; undefined while succeeding. */
  failingSince?: number;
  lastError?: string;
  lastSuccess?: number;
}

export class ExportHealth {
  readonly #signals = new Map<string, SignalState>();

  /** The exporter with its results recorded under `signal`; every other member is the exporter's own. */
  watch<E extends Exporter<never>>(signal: string, exporter: E): E {
    const state: SignalState = {};
    this.#signals.set(signal, state);
    const record = (r: ExportResult) => {
      if (r.code === 0) {
        state.failingSince = undefined;
        state.lastError = undefined;
        state.lastSuccess = Date.now();
      } else {
        state.failingSince ??= Date.now();
        state.lastError = r.error?.message ?? 'export failed';
      }
    };
    return new Proxy(exporter, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'export') {
          return (items: never, done: (r: ExportResult) => void) => (target.export as (i: never, d: (r: ExportResult) => void) => void)(items, (r) => {
            record(r);
            done(r);
          });
        }
        // Bound to the exporter itself: its private fields do not exist on the proxy.
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Each watched signal: ok, or failing since when and why. */
  report(now = Date.now()): Array<{ signal: string; failingForMs?: number; error?: string; lastSuccess?: number }> {
    return [...this.#signals].map(([signal, s]) => (s.failingSince === undefined
      ? { signal, lastSuccess: s.lastSuccess }
      : { signal, failingForMs: now - s.failingSince, error: s.lastError, lastSuccess: s.lastSuccess }));
  }
}
