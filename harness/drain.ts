// Drain: records per second through ring buffer -> consumer -> decoded record -> sink, and
// records lost, at one offered load. Runs in its own Node process pinned to one CPU (the
// producer gets the other), so "one core" means what it says:
//   node harness/drain.ts '{"consumer":"mmap","offered":1000000,"seconds":3}'
// prints one JSON result line. runDrain() spawns that from bench/run.ts.
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { RingBuffer, type RingBufferConsumer } from '../src/libbpf/ringbuf.ts';
import { decodeDrainRecord, openDrainLoad, startProducer } from './drain-load.ts';
import { sleep } from './stats.ts';

export interface DrainOptions {
  consumer: RingBufferConsumer;
  /** Records a second the producer offers; 0: as fast as it can. */
  offered: number;
  seconds: number;
  recordsPerTrigger?: number;
  ringBytes?: number;
  /** How long the consumer sleeps when the ring is empty (the runtime's poll period is 200 ms). */
  idlePollMs?: number;
}

export interface DrainResult extends Required<DrainOptions> {
  /** Records the kernel side attempted, and how many of them failed to reserve (lost). */
  produced: number;
  lost: number;
  received: number;
  /** Records delivered out of order or twice (must be 0). */
  misordered: number;
  /** received / producer's wall time. */
  perSecond: number;
  /** Consumer process CPU over the run, as a fraction of one core, and per record received. */
  consumerCpu: number;
  nsPerRecord: number;
  /** produced / producer's wall time: what the producer actually offered. */
  producedPerSecond: number;
  /** Records not accounted for: produced - lost - received (must be 0). */
  unaccounted: number;
}

const CONSUMER_CPU = 0;
const PRODUCER_CPU = 1;

async function measure(o: Required<DrainOptions>): Promise<DrainResult> {
  const triggersPerSec = o.offered > 0 ? o.offered / o.recordsPerTrigger : 0;
  const producer = startProducer(triggersPerSec, o.seconds, availableParallelism() > 1 ? PRODUCER_CPU : undefined);
  const load = openDrainLoad({ tgid: producer.pid, recordsPerTrigger: o.recordsPerTrigger, ringBytes: o.ringBytes });
  let received = 0;
  let misordered = 0;
  let lastSeq = -1;
  let checksum = 0; // keeps the decoded fields live
  // The sink: what an exporter does first with a record (look at its fields).
  const rb = new RingBuffer(load.events, (buf) => {
    const r = decodeDrainRecord(buf);
    if (r.seq <= lastSeq) misordered++;
    lastSeq = r.seq;
    checksum += r.value - r.index;
    received++;
  }, () => {}, { consumer: o.consumer });
  try {
    if (rb.consumer !== o.consumer) throw new Error(`asked for the ${o.consumer} consumer, got ${rb.consumer}: ${rb.fallbackReason}`);
    let finished = false;
    const done = producer.done.finally(() => { finished = true; });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    producer.go();
    while (!finished) {
      const n = rb.consume();
      // Yield to the event loop (the producer's exit) without sleeping while there is work.
      await (n === 0 ? sleep(o.idlePollMs) : new Promise((r) => setImmediate(r)));
    }
    const p = await done;
    while (rb.consume() > 0);
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const wall = (performance.now() - t0) / 1000;
    const k = load.counters();
    void checksum;
    return {
      ...o,
      produced: k.offered,
      lost: k.dropped,
      received,
      misordered,
      perSecond: received / p.seconds,
      consumerCpu: cpuSeconds / wall,
      nsPerRecord: received ? (cpuSeconds * 1e9) / received : 0,
      producedPerSecond: k.offered / p.seconds,
      unaccounted: k.offered - k.dropped - received,
    };
  } finally {
    rb.close();
    load.close();
    producer.kill();
  }
}

export function withDefaults(o: DrainOptions): Required<DrainOptions> {
  return { recordsPerTrigger: 64, ringBytes: 16 << 20, idlePollMs: 1, ...o };
}

/** One scenario in a fresh Node process on one CPU. */
export async function runDrain(o: DrainOptions): Promise<DrainResult> {
  const args = [process.execPath, import.meta.filename, JSON.stringify(withDefaults(o))];
  const pinned = hasTaskset() ? ['taskset', '-c', String(CONSUMER_CPU), ...args] : args;
  const child = spawn(pinned[0]!, pinned.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`drain ${JSON.stringify(o)} exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as DrainResult;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write('usage: node harness/drain.ts \'{"consumer":"mmap","offered":1000000,"seconds":3}\'\n');
    process.exit(2);
  }
  const result = await measure(withDefaults(JSON.parse(arg) as DrainOptions));
  process.stdout.write(JSON.stringify(result) + '\n');
}
