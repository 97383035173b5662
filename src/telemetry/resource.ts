// The resource every signal carries: who is reporting, from which host.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';

export const SERVICE_VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;

/** key=value,key2=value2 with percent-encoded values, as OTEL_RESOURCE_ATTRIBUTES is written. */
export function parseKeyValueList(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = text.split(',');
  for (const [i, part] of parts.entries()) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    // By position, not content: header values are secrets.
    if (eq <= 0) throw new Error(`${what}: entry ${i + 1} of ${parts.length} is not key=value`);
    const key = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch { /* keep it as written */ }
    out[key] = value;
  }
  return out;
}

function hostId(): string | undefined {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(f, 'utf8').trim();
      if (id) return id;
    } catch { /* next */ }
  }
  return undefined;
}

export function buildResource(opts: { serviceName: string; attributes: string }): Resource {
  const extra = parseKeyValueList(opts.attributes, 'resource attributes');
  const id = hostId();
  return resourceFromAttributes({
    'host.name': os.hostname(),
    ...(id ? { 'host.id': id } : {}),
    'os.type': 'linux',
    'service.version': SERVICE_VERSION,
    ...extra,
    // service.name from its own key (OTEL_SERVICE_NAME) wins over OTEL_RESOURCE_ATTRIBUTES, as the spec says
    'service.name': opts.serviceName,
  });
}
