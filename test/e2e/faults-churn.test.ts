// Process churn under procstat: 10,000 processes start and exit during a run. The kernel map
// of tracked processes returns to its size before, exited processes leave the exported
// metrics, and mem-watcher's own memory does not grow with the number of processes it saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startOtlpReceiver, type OtlpMetric } from '../../harness/otlp-receiver.ts';
import { startCli, type CliRun } from '../helpers/cli.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CHURN_C = `
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
/* mwchurn N K: N processes, K alive at once, each touching 256 KiB for 20 ms */
int main(int argc, char **argv) {
  long n = atol(argv[1]), k = atol(argv[2]), started = 0, alive = 0;
  while (started < n || alive > 0) {
    if (started < n && alive < k) {
      pid_t pid = fork();
      if (pid < 0) return 1;
      if (pid == 0) {
        char *p = malloc(256 << 10);
        if (p) memset(p, 1, 256 << 10);
        usleep(20000);
        _exit(0);
      }
      started++, alive++;
    } else if (wait(NULL) > 0) {
      alive--;
    }
  }
  return 0;
}
`;

/** The BPF maps process `pid` holds open, by name, with their ids (from fdinfo). */
function mapsOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info = '';
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const id = /^map_id:\s+(\d+)/m.exec(info);
    if (!id) continue;
    const show = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'id', id[1]!], { encoding: 'utf8' })) as { name?: string };
    if (show.name) out.set(show.name, Number(id[1]));
  }
  return out;
}

function entries(mapId: number): number {
  return (JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(mapId)], { encoding: 'utf8', maxBuffer: 64 << 20 })) as unknown[]).length;
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/**
 * Preloaded into mem-watcher (NODE_OPTIONS): on SIGUSR2, a full GC and the live JS heap on
 * stderr. RSS alone cannot tell a leak from V8 keeping a bigger heap after a burst of garbage.
 */
const HEAP_PROBE = `process.on('SIGUSR2', () => { globalThis.gc(); process.stderr.write('heap-used ' + process.memoryUsage().heapUsed + '\\n'); });`;

async function liveHeap(cli: CliRun): Promise<number> {
  const seen = cli.stderr().match(/heap-used \d+/g)?.length ?? 0;
  cli.child.kill('SIGUSR2');
  const m = await cli.waitForOutput(new RegExp(`(?:heap-used \\d+[\\s\\S]*){${seen}}heap-used (\\d+)`), 5000);
  return Number(m[1]);
}

const churnPoints = (metrics: OtlpMetric[]) => metrics
  .filter((m) => m.name === 'process.memory.usage')
  .flatMap((m) => m.points)
  .filter((p) => p.attributes['process.executable.name'] === 'mwchurn');

test('10,000 processes start and exit: the map comes back to its size, exited processes leave the metrics, no memory kept for them', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-churn-'));
  writeFileSync(join(dir, 'mwchurn.c'), CHURN_C);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'mwchurn'), join(dir, 'mwchurn.c')]);

  writeFileSync(join(dir, 'heap-probe.mjs'), HEAP_PROBE);

  const rx = await startOtlpReceiver();
  // --comm selects the churn processes whatever their size, so their coming and going is visible.
  const cli = startCli(['-r', '--comm', 'mwchurn', '--exporter', 'otlp', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    NODE_OPTIONS: `--expose-gc --import=${join(dir, 'heap-probe.mjs')}`,
  });
  try {
    await cli.waitForOutput(/procstat: attached with/, 15_000);
    await rx.waitFor(() => rx.metrics().some((m) => m.name === 'process.memory.usage'), 10_000);
    const procsMap = mapsOf(cli.child.pid!).get('procs');
    assert.ok(procsMap !== undefined, 'procstat holds its procs map');
    const before = entries(procsMap);
    await sleep(1000);
    const rssBefore = rssKb(cli.child.pid!);
    const heapBefore = await liveHeap(cli);

    const t0 = Date.now();
    await promisify(execFile)(join(dir, 'mwchurn'), ['10000', '100'], { timeout: 60_000 });
    const churnMs = Date.now() - t0;
    assert.ok(churnPoints(rx.metrics()).length > 0, 'churn processes were seen while they lived');

    await sleep(1500); // exit records drained, a couple of exports
    const after = entries(procsMap);
    assert.ok(after <= before + 100, `procs map: ${before} entries before, ${after} after 10,000 exits (in ${churnMs} ms)`);
    rx.reset();
    await rx.waitFor(() => rx.metrics().filter((m) => m.name === 'process.memory.usage').length >= 2, 10_000);
    const stale = churnPoints(rx.metrics());
    assert.deepEqual(stale.map((p) => p.attributes['process.pid']), [], 'no exited churn process is still exported');

    const rssAfter = rssKb(cli.child.pid!);
    const heapAfter = await liveHeap(cli);
    const mb = (b: number) => (b / 1048576).toFixed(1);
    // Live objects after a full GC: what the 10,000 processes left behind in mem-watcher.
    assert.ok(heapAfter - heapBefore < 8 * 1048576, `live JS heap ${mb(heapBefore)} MB before, ${mb(heapAfter)} MB after 10,000 processes`);
    // RSS also holds the heap V8 keeps after a burst of garbage (it plateaus, measured ~+75 MB): bound it loosely.
    assert.ok(rssAfter - rssBefore < 120 * 1024, `mem-watcher RSS ${rssBefore} kB before, ${rssAfter} kB after`);
    const dropped = rx.metrics().filter((m) => m.name === 'memwatcher.events.dropped').flatMap((m) => m.points)
      .filter((p) => p.attributes['memwatcher.probe'] === 'procstat').at(-1)?.value;
    process.stdout.write(`# churn: 10000 processes in ${churnMs} ms; procs map ${before} -> ${after}; RSS ${rssBefore} -> ${rssAfter} kB; live heap ${mb(heapBefore)} -> ${mb(heapAfter)} MB; procstat events dropped ${dropped}\n`);

    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0, cli.stderr());
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});
