// The agent's HTTP endpoints (Prometheus /metrics, /healthz, /readyz), listening on all
// addresses by default: anyone who can reach them must not be able to blind them or exhaust the
// agent's descriptors (the probes need theirs). The Prometheus exporter's own server has no
// limits (21,000 idle connections took every descriptor), so it is never started; this one
// serves its handler with bounds on connections and on how long a client may take to send
// headers, a request, or nothing at all.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export const HTTP_LIMITS = {
  /** Connections open at once; more are closed on accept. */
  maxConnections: 128,
  /** A client has this long to send its headers (slow-loris), and to send anything at all. */
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** How often the server looks for connections past those timeouts. */
  checkIntervalMs: 1_000,
} as const;

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpServer {
  close(): Promise<void>;
}

/** Serves each route at GET/HEAD of its path; other methods 405, other paths 404. */
export async function serveHttp(host: string, port: number, routes: ReadonlyMap<string, Route>): Promise<HttpServer> {
  const L = HTTP_LIMITS;
  const server = createServer({
    headersTimeout: L.headersTimeoutMs,
    requestTimeout: L.requestTimeoutMs,
    keepAliveTimeout: L.keepAliveTimeoutMs,
    connectionsCheckingInterval: L.checkIntervalMs,
  }, (req: IncomingMessage, res: ServerResponse) => {
    let pathname: string | undefined;
    try {
      pathname = new URL(req.url ?? '/', 'http://x').pathname;
    } catch { /* answered 404 */ }
    const route = pathname === undefined ? undefined : routes.get(pathname);
    if (!route) {
      res.writeHead(404).end();
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else {
      route(req, res);
    }
  });
  server.maxConnections = L.maxConnections;
  // A connection that sends nothing is timed out like one that sends headers slowly.
  server.on('connection', (socket) => socket.setTimeout(L.requestTimeoutMs, () => socket.destroy()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return {
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A JSON answer (HEAD gets the status alone). */
export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}
