// /healthz and /readyz, and the HTTP servers that carry them: on the Prometheus port beside
// /metrics unless health.port names a port of their own.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TelemetryStartError, type Telemetry } from '../telemetry/otel.ts';
import { sendJson, serveHttp, type HttpServer, type Route } from '../telemetry/http-server.ts';
import type { Config } from './config.ts';

/** What readiness needs of the run: each enabled probe's attach outcome, once attempted. */
export interface ProbeStates {
  readonly status: ReadonlyArray<{ probe: string; strategy?: string; refused: ReadonlyArray<{ strategy: string; reason: string }> }>;
}

export interface ReadyAnswer {
  status: 'ready' | 'not ready';
  reasons: string[];
  probes: Record<string, string>;
  exporters: Record<string, string>;
}

export class Health {
  #probes: ProbeStates | undefined;
  readonly #started = Date.now();
  readonly #opts: { enabled: readonly string[]; telemetry?: Telemetry; sdkDisabled: boolean; exportFailureMs: number };

  constructor(opts: { enabled: readonly string[]; telemetry?: Telemetry; sdkDisabled: boolean; exportFailureMs: number }) {
    this.#opts = opts;
  }

  /** The probes have been attached (or refused): readiness looks at them from now on. */
  attached(probes: ProbeStates): void {
    this.#probes = probes;
  }

  ready(now = Date.now()): ReadyAnswer {
    const reasons: string[] = [];
    const probes: Record<string, string> = {};
    for (const name of this.#opts.enabled) {
      const s = this.#probes?.status.find((x) => x.probe === name);
      if (!this.#probes) probes[name] = 'starting';
      else if (s?.strategy) probes[name] = `attached (${s.strategy})`;
      else {
        const why = s?.refused.map((r) => `${r.strategy}: ${r.reason}`).join('; ') || 'not started';
        probes[name] = `failed to attach: ${why}`;
        reasons.push(`probe ${name} failed to attach (${why})`);
      }
    }
    if (!this.#probes) reasons.push('starting: the probes are not attached yet');
    const exporters: Record<string, string> = {};
    const t = this.#opts.telemetry;
    if (this.#opts.sdkDisabled) exporters.opentelemetry = 'disabled (sdk.disabled)';
    if (t?.prometheus) exporters.prometheus = 'serving';
    for (const e of t?.exportHealth.report(now) ?? []) {
      if (e.failingForMs === undefined) {
        exporters[e.signal] = e.lastSuccess === undefined ? 'no export yet' : 'ok';
        continue;
      }
      const s = Math.round(e.failingForMs / 1000);
      exporters[e.signal] = `failing for ${s} s: ${e.error}`;
      const limit = this.#opts.exportFailureMs;
      if (limit > 0 && e.failingForMs >= limit) reasons.push(`${e.signal} export failing for ${s} s (health.export_failure_s is ${limit / 1000}): ${e.error}`);
    }
    return { status: reasons.length === 0 ? 'ready' : 'not ready', reasons, probes, exporters };
  }

  /** Answering at all shows the event loop turns; a blocked loop answers nothing, and the probe times out. */
  readonly healthz: Route = (req: IncomingMessage, res: ServerResponse) =>
    sendJson(req, res, 200, { status: 'alive', uptime_s: Math.round((Date.now() - this.#started) / 1000) });

  readonly readyz: Route = (req: IncomingMessage, res: ServerResponse) => {
    const r = this.ready();
    sendJson(req, res, r.status === 'ready' ? 200 : 503, r);
  };
}

/**
 * Starts the servers: the Prometheus port (when prometheus is an exporter) with /metrics, and
 * /healthz and /readyz there or on health.port. None when neither is asked for.
 */
export async function serveEndpoints(config: Config, health: Health, telemetry: Telemetry | undefined): Promise<HttpServer[]> {
  const host = config.prometheus.host;
  const promPort = config.exporters.includes('prometheus') ? config.prometheus.port : undefined;
  const healthPort = config.health.port || promPort;
  const ports = new Map<number, Map<string, Route>>();
  const routes = (port: number) => ports.get(port) ?? ports.set(port, new Map()).get(port)!;
  if (promPort !== undefined) {
    const r = routes(promPort);
    if (telemetry?.prometheus) r.set('/metrics', telemetry.prometheus);
  }
  if (healthPort !== undefined) routes(healthPort).set('/healthz', health.healthz).set('/readyz', health.readyz);
  const servers: HttpServer[] = [];
  try {
    for (const [port, r] of ports) {
      try {
        servers.push(await serveHttp(host, port, r));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const key = port === promPort ? 'prometheus.port (MEMWATCHER_PROMETHEUS_PORT)' : 'health.port (MEMWATCHER_HEALTH_PORT)';
        // Only a port in use is fixed by another port; an unknown or foreign address by the host.
        const fix = code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL'
          ? 'set prometheus.host (MEMWATCHER_PROMETHEUS_HOST) to an address of this machine (0.0.0.0 for all)'
          : `set ${key} to a free port`;
        const what = port === promPort ? 'Prometheus metrics' : 'health endpoints';
        throw new TelemetryStartError(`cannot serve ${what} on ${host}:${port} (${code ?? (err as Error).message}): ${fix}`);
      }
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  return servers;
}
