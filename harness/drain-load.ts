// The drain benchmark's load: bpf/bench_drain.bpf.c (N records per getppid() of one process),
// its record decoder (the shape every probe's decoder has: header check, then fields), and the
// C producer that fires the trigger at a paced rate.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BpfObject } from '../src/libbpf/object.ts';
import type { BpfMap } from '../src/libbpf/map.ts';
import { expectRecord, HEADER_SIZE } from '../src/runtime/record.ts';
import { BPF_OBJECT_DIR } from '../src/runtime/attach.ts';
import { cProgram } from './cbuild.ts';

/** bpf/bench_drain.h */
export const MW_EVENT_BENCH_DRAIN = 100;
export const BENCH_DRAIN_MAX_BATCH = 1024;
export const BENCH_DRAIN_RECORD_SIZE = HEADER_SIZE + 24;

export interface DrainRecord {
  tsNs: bigint;
  seq: number;
  tgid: number;
  index: number;
  value: number;
}

export function decodeDrainRecord(buf: Buffer): DrainRecord {
  const h = expectRecord(buf, MW_EVENT_BENCH_DRAIN, BENCH_DRAIN_RECORD_SIZE, 'bench_drain');
  return {
    tsNs: h.tsNs,
    seq: Number(buf.readBigUInt64LE(HEADER_SIZE)),
    tgid: buf.readUInt32LE(HEADER_SIZE + 8),
    index: buf.readUInt32LE(HEADER_SIZE + 12),
    value: Number(buf.readBigUInt64LE(HEADER_SIZE + 16)),
  };
}

export interface DrainLoad {
  obj: BpfObject;
  events: BpfMap;
  /** In-kernel counts: records attempted, failed reserves (lost), discarded on purpose. */
  counters(): { offered: number; dropped: number; discarded: number };
  close(): void;
}

export interface DrainLoadOptions {
  /** The process whose getppid() calls trigger records. */
  tgid: number;
  recordsPerTrigger: number;
  /** Ring buffer data size in bytes (a power of two, at least a page). */
  ringBytes: number;
  /** Discard (instead of submit) every Nth record; 0: never. */
  discardEvery?: number;
}

export function openDrainLoad(opts: DrainLoadOptions): DrainLoad {
  if (opts.recordsPerTrigger < 1 || opts.recordsPerTrigger > BENCH_DRAIN_MAX_BATCH) {
    throw new Error(`records per trigger must be 1..${BENCH_DRAIN_MAX_BATCH}`);
  }
  const obj = BpfObject.open(join(BPF_OBJECT_DIR, 'bench_drain.bpf.o'));
  try {
    obj.setRodata({ target_tgid: opts.tgid, records_per_trigger: opts.recordsPerTrigger, discard_every: opts.discardEvery ?? 0 });
    const events = obj.map('events');
    events.setMaxEntries(opts.ringBytes);
    obj.load();
    obj.program('bench_drain_emit').attach();
    const global = (name: string) => Number(obj.readGlobal('.bss', name));
    return {
      obj,
      events,
      counters: () => ({ offered: global('events_offered'), dropped: global('events_dropped'), discarded: global('events_discarded') }),
      close: () => obj.close(),
    };
  } catch (err) {
    obj.close();
    throw err;
  }
}

export interface Producer {
  pid: number;
  /** Starts firing (the program must be attached with this pid first). */
  go(): void;
  done: Promise<{ triggers: number; seconds: number }>;
  kill(): void;
}

/** bench/c/drain-producer: `triggersPerSec` getppid() calls a second (0: flat out), pinned to `cpu`. */
export function startProducer(triggersPerSec: number, seconds: number, cpu?: number): Producer {
  const args = [String(triggersPerSec), String(seconds), ...(cpu === undefined ? [] : [String(cpu)])];
  const child = spawn(cProgram('drain-producer'), args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise<{ triggers: number; seconds: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`drain-producer exited ${code}`));
      else resolve(JSON.parse(out) as { triggers: number; seconds: number });
    });
  });
  return {
    pid: child.pid!,
    go: () => child.stdin.end('go\n'),
    done,
    kill: () => child.kill('SIGKILL'),
  };
}
