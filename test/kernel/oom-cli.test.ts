// oom through the CLI, as users run it: `-k` with memleak tracing the process that is about to be
// killed, spans to a real OTLP/HTTP receiver. The oom.kill span names the victim and links to
// the victim's last memleak.report, so a trace backend goes from "killed" to "what it held".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startCli } from '../helpers/cli.ts';
import { MEM, memcg } from '../helpers/memcg.ts';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { scaled } from '../../harness/time-scale.ts';

const MiB = 1024 * 1024;
const skip = process.getuid?.() !== 0 ? 'needs root' : !MEM ? 'needs a memory cgroup controller (v1, or cgroup2 with memory)' : false;

// Waits for a line before each phase: first it holds 8 MiB (malloc'd by bytearray, which memleak
// sees), then it touches 1 MiB at a time past its cgroup's 64 MiB limit.
const VICTIM = `
import sys
print('ready', flush=True)
sys.stdin.readline()
held = [bytearray(1 << 20) for _ in range(8)]
for b in held: b[::4096] = b'\\x01' * 256
print('held', flush=True)
sys.stdin.readline()
for i in range(256):
    b = bytearray(1 << 20)
    b[::4096] = b'\\x01' * 256
    held.append(b)
`;

test('-k with -l: the oom.kill span names the memcg victim and links to its last memleak.report', { skip, timeout: scaled(90_000) }, async () => {
  const cg = memcg(`memwatcher-oom-cli-${process.pid}`, 64 * MiB);
  const rx = await startOtlpReceiver();
  const victim = spawn('sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec /usr/bin/python3 -c "$0"`, VICTIM], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ended = new Promise<NodeJS.Signals | null>((r) => victim.on('close', (_code, signal) => r(signal)));
  let out = '';
  const said = (word: string) => new Promise<void>((resolve, reject) => {
    const check = () => (out.includes(word) ? resolve() : undefined);
    victim.stdout!.on('data', (d: Buffer) => { out += d; check(); });
    void ended.then(() => reject(new Error(`the victim ended before saying ${word}: ${out}`)));
    check();
  });
  let cli: ReturnType<typeof startCli> | undefined;
  try {
    await said('ready');
    const pid = victim.pid!;
    cli = startCli(['-k', '-l', String(pid), '--exporter', 'otlp', '--interval', '1'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    await cli.waitForOutput(/memleak: attached with uprobe/, 20_000);
    await cli.waitForOutput(/oom: attached with \w+/, 20_000);
    victim.stdin!.write('go\n');
    await said('held');
    const report = await rx.waitFor(() => rx.spans().find((s) => s.name === 'memleak.report' && s.attributes['process.pid'] === pid && Number(s.attributes['memwatcher.memleak.bytes']) >= 8 * MiB), 20_000);
    assert.ok(report);
    victim.stdin!.write('go\n');
    assert.equal(await ended, 'SIGKILL', 'the OOM killer ended the victim');
    const kill = await rx.waitFor(() => rx.spans().find((s) => s.name === 'oom.kill' && s.attributes['process.pid'] === pid), 20_000);
    assert.equal(kill.attributes['memwatcher.oom.constraint'], 'memcg');
    assert.equal(kill.links.length, 1, 'one link, to the last memleak report');
    cli.child.kill('SIGINT');
    assert.equal((await cli.exited).code, 0, cli.stderr());
    // The link names a report span that arrived (its own trace: reports are roots).
    const reports = rx.spans().filter((s) => s.name === 'memleak.report' && s.attributes['process.pid'] === pid);
    const linked = reports.find((r) => r.spanId === kill.links[0]!.spanId && r.traceId === kill.links[0]!.traceId);
    assert.ok(linked, `the link ${kill.links[0]!.traceId}/${kill.links[0]!.spanId} is none of the ${reports.length} memleak.report spans of pid ${pid}`);
  } finally {
    victim.kill('SIGKILL');
    await ended;
    if (cli && cli.child.exitCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
    await rx.close();
    cg.remove();
  }
});
