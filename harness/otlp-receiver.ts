// A real OTLP/HTTP receiver for tests: POST /v1/metrics and /v1/traces, protobuf or JSON,
// identity or gzip Content-Encoding, any transfer encoding (Node's http decodes chunked).
// Everything it accepts is normalized (otlp-normalize.ts) so tests assert the same way for
// either protocol. Fault behaviours (a status such as 503/429, or hanging) serve retry tests.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeExportMetricsServiceRequest, decodeExportTraceServiceRequest } from './otlp-protobuf.ts';
import { normalizeMetrics, normalizeSpans } from './otlp-normalize.ts';
import type { OtlpMetric, OtlpProtocol, OtlpSpan } from './otlp-normalize.ts';
import { scaled } from './time-scale.ts';

export type * from './otlp-normalize.ts';

/** How the receiver answers. 'accept' uses the `status` option (default 200). */
export type ReceiverBehaviour =
  | 'accept'
  | 'hang'
  | {
      status: number;
      /** sent as a Retry-After header (seconds) */
      retryAfterSeconds?: number;
      /** answer this way for the next `times` requests only, then go back to 'accept' */
      times?: number;
    };

export interface ReceivedRequest {
  /** 0-based arrival order */
  index: number;
  /** Date.now() when the request's headers arrived */
  receivedAt: number;
  method: string;
  path: string;
  /** the Content-Type header without parameters, '' if absent */
  contentType: string;
  /** the Content-Encoding header, '' if absent */
  contentEncoding: string;
  chunked: boolean;
  /** body size as received (before gunzip) */
  bytes: number;
  protocol: OtlpProtocol | undefined;
  /** the status answered; undefined while hanging */
  status: number | undefined;
  /** true when the data was answered 2xx and so recorded in metrics()/spans() */
  accepted: boolean;
  /** data points' metrics or spans the body held (0 until decoded) */
  items: number;
  /** why the body was rejected (decode error, bad content type...) */
  error?: string;
}

export interface ReceiverRequests {
  total: number;
  byPath: Record<string, number>;
  /** distinct content types seen, in order of first appearance */
  contentTypes: string[];
  log: ReceivedRequest[];
}

export interface OtlpReceiverOptions {
  /** status for accepted requests: a number, or a function of the request (default 200) */
  status?: number | ((req: ReceivedRequest) => number);
  /** host to listen on (default 127.0.0.1) */
  host?: string;
  /** port (default 0: ephemeral) */
  port?: number;
}

export interface OtlpReceiver {
  /** base URL, e.g. http://127.0.0.1:PORT; exporters post to url + '/v1/metrics' */
  readonly url: string;
  readonly port: number;
  /** all metrics accepted so far, flattened, in arrival order */
  metrics(): OtlpMetric[];
  /** all spans accepted so far, flattened, in arrival order */
  spans(): OtlpSpan[];
  /** a snapshot of what arrived */
  readonly requests: ReceiverRequests;
  /**
   * Resolves with the first value `probe` returns other than undefined/null/false, probing now
   * and after each request;
   * rejects after timeoutMs (default 10 s, scaled: time-scale.ts) with a summary of what did arrive.
   */
  waitFor<T>(probe: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  setBehaviour(behaviour: ReceiverBehaviour): void;
  /** forgets received data and requests (behaviour is kept) */
  reset(): void;
  /** closes the server, dropping any hanging request */
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024 * 1024;

const SIGNALS: Record<string, 'metrics' | 'traces'> = { '/v1/metrics': 'metrics', '/v1/traces': 'traces' };

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  let metrics: OtlpMetric[] = [];
  let spans: OtlpSpan[] = [];
  let log: ReceivedRequest[] = [];
  let behaviour: ReceiverBehaviour = 'accept';
  const listeners = new Set<() => void>();
  const hanging = new Set<http.ServerResponse>();

  const notify = (): void => {
    for (const l of [...listeners]) l();
  };

  /** Picks the status for one request, consuming a limited behaviour. */
  const answer = (rec: ReceivedRequest): { status: number; retryAfter?: number } | 'hang' => {
    const b = behaviour;
    if (b === 'hang') return 'hang';
    if (b === 'accept') {
      const s = options.status ?? 200;
      return { status: typeof s === 'function' ? s(rec) : s };
    }
    if (b.times !== undefined && --b.times <= 0) behaviour = 'accept';
    return b.retryAfterSeconds === undefined ? { status: b.status } : { status: b.status, retryAfter: b.retryAfterSeconds };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const rec: ReceivedRequest = {
      index: log.length,
      receivedAt: Date.now(),
      method: req.method ?? '',
      path,
      contentType: (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '',
      contentEncoding: (req.headers['content-encoding'] ?? '').trim().toLowerCase(),
      chunked: /\bchunked\b/i.test(req.headers['transfer-encoding'] ?? ''),
      bytes: 0,
      items: 0,
      protocol: undefined,
      status: undefined,
      accepted: false,
    };
    log.push(rec);

    const reply = (status: number, body: string | Uint8Array = '', headers: Record<string, string> = {}): void => {
      rec.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
      notify();
    };
    const reject = (status: number, error: string): void => {
      rec.error = error;
      reply(status, JSON.stringify({ code: status, message: error }), { 'content-type': 'application/json' });
    };

    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) {
        const b = chunk as Buffer;
        rec.bytes += b.length;
        if (rec.bytes > MAX_BODY) return reject(413, 'body too large');
        chunks.push(b);
      }
    } catch (err) {
      rec.error = `request aborted: ${(err as Error).message}`;
      notify();
      return;
    }

    const signal = SIGNALS[path];
    if (signal === undefined) return reject(404, `no such path ${path}`);
    if (rec.method !== 'POST') return reject(405, `method ${rec.method} not allowed`);
    if (rec.contentType === 'application/x-protobuf') rec.protocol = 'protobuf';
    else if (rec.contentType === 'application/json') rec.protocol = 'json';
    else return reject(415, `unsupported content type '${rec.contentType}'`);

    let received: OtlpMetric[] | OtlpSpan[];
    try {
      let body: Buffer = Buffer.concat(chunks);
      if (rec.contentEncoding === 'gzip') body = gunzipSync(body);
      else if (rec.contentEncoding !== '' && rec.contentEncoding !== 'identity') {
        return reject(415, `unsupported content encoding '${rec.contentEncoding}'`);
      }
      const request: unknown = rec.protocol === 'json'
        ? JSON.parse(body.toString('utf8'))
        : signal === 'metrics' ? decodeExportMetricsServiceRequest(body) : decodeExportTraceServiceRequest(body);
      received = signal === 'metrics' ? normalizeMetrics(request, rec.protocol) : normalizeSpans(request, rec.protocol);
      rec.items = received.length;
    } catch (err) {
      return reject(400, `cannot decode ${rec.protocol} body: ${(err as Error).message}`);
    }

    const a = answer(rec);
    if (a === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      notify();
      return;
    }
    if (a.status >= 200 && a.status < 300) {
      rec.accepted = true;
      if (signal === 'metrics') metrics = metrics.concat(received as OtlpMetric[]);
      else spans = spans.concat(received as OtlpSpan[]);
      // an empty Export*ServiceResponse: no partial_success
      if (rec.protocol === 'json') reply(a.status, '{}', { 'content-type': 'application/json' });
      else reply(a.status, new Uint8Array(0), { 'content-type': 'application/x-protobuf' });
    } else {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (a.retryAfter !== undefined) headers['retry-after'] = String(a.retryAfter);
      reply(a.status, JSON.stringify({ code: a.status, message: 'set by the test receiver' }), headers);
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const requests = (): ReceiverRequests => {
    const byPath: Record<string, number> = {};
    const contentTypes: string[] = [];
    for (const r of log) {
      byPath[r.path] = (byPath[r.path] ?? 0) + 1;
      if (r.contentType !== '' && !contentTypes.includes(r.contentType)) contentTypes.push(r.contentType);
    }
    return { total: log.length, byPath, contentTypes, log: [...log] };
  };

  const summary = (): string => {
    const r = requests();
    const names = [...new Set(metrics.map((m) => m.name))];
    const spanNames = [...new Set(spans.map((s) => s.name))];
    const statuses = r.log.map((l) => `${l.path}:${l.status ?? 'pending'}${l.error ? `(${l.error})` : ''}`);
    return `${r.total} request(s) [${statuses.join(', ')}]; metrics [${names.join(', ')}]; spans [${spanNames.join(', ')}]`;
  };

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    metrics: () => [...metrics],
    spans: () => [...spans],
    get requests() {
      return requests();
    },
    waitFor<T>(probe: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
      const limit = scaled(timeoutMs);
      return new Promise<T>((resolve, reject) => {
        const check = (): boolean => {
          let v: T | undefined | null | false;
          try {
            v = probe();
          } catch (err) {
            done();
            reject(err as Error);
            return true;
          }
          if (v === undefined || v === null || v === false) return false;
          done();
          resolve(v);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`OTLP receiver: waitFor timed out after ${limit} ms; received ${summary()}`));
        }, limit);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(onRequest);
        };
        const onRequest = (): void => void check();
        listeners.add(onRequest);
        check();
      });
    },
    setBehaviour(b: ReceiverBehaviour): void {
      behaviour = typeof b === 'string' ? b : { ...b };
    },
    reset(): void {
      metrics = [];
      spans = [];
      log = [];
    },
    async close(): Promise<void> {
      for (const res of hanging) res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      listeners.clear();
    },
  };
}
