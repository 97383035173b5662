// A TCP port free at the time of asking, for a receiver a test or benchmark starts.
import net from 'node:net';

/** The kernel's pick of an unused port (bound and released: another process may take it first). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
