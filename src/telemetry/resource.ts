// The resource every signal carries: who is reporting, from which host.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultResource, detectResources, hostDetector, osDetector, processDetector, resourceFromAttributes, serviceInstanceIdDetector, type Resource } from '@opentelemetry/resources';

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

/** Keys of the process detector that describe the agent's runtime, not a process it watches. */
const RUNTIME_KEYS = ['process.runtime.name', 'process.runtime.version', 'process.runtime.description'];

/**
 * The SDK's detectors: host (host.name, host.id from /etc/machine-id, host.arch), os (os.type,
 * os.version), service.instance.id (a UUID per run) and the Node.js runtime; then
 * service.version, the configured attributes (OTEL_RESOURCE_ATTRIBUTES, read once with the rest
 * of the config so a MEMWATCHER_* variable wins) and service.name. The process detector's
 * process.pid and process.executable.name are left out: on our data points and spans those keys
 * name the watched process, and a resource copied onto them (resource_to_telemetry_conversion)
 * would put the agent's own there.
 */
export async function buildResource(opts: { serviceName: string; attributes: string }): Promise<Resource> {
  const extra = parseKeyValueList(opts.attributes, 'resource attributes');
  const detected = detectResources({ detectors: [hostDetector, osDetector, serviceInstanceIdDetector] });
  await detected.waitForAsyncAttributes?.(); // host.id is read asynchronously
  const runtime = Object.fromEntries(Object.entries(processDetector.detect().attributes ?? {}).filter(([k]) => RUNTIME_KEYS.includes(k)));
  return defaultResource()
    .merge(detected)
    .merge(resourceFromAttributes({
      ...runtime,
      'service.version': SERVICE_VERSION,
      ...extra,
      // service.name from its own key (OTEL_SERVICE_NAME) wins over OTEL_RESOURCE_ATTRIBUTES, as the spec says
      'service.name': opts.serviceName,
    }));
}
