// What mem-watcher says before touching BPF when the host cannot run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preflight } from '../../src/app/preflight.ts';
import { EnvironmentError } from '../../src/errors.ts';
import type { KernelInfo } from '../../src/host/kernel.ts';

const kernel: KernelInfo = { release: '6.1.0-test', version: [6, 1], btf: true, kprobes: true, numaNodes: [0], pageSize: 4096, tracefs: '/sys/kernel/tracing' };
const bit = (n: number) => 1n << BigInt(n);

test('no privileges: one line naming root or CAP_BPF+CAP_PERFMON', () => {
  assert.throws(() => preflight(kernel, 0n), (e: unknown) => e instanceof EnvironmentError && /CAP_BPF and CAP_PERFMON/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => preflight(kernel, bit(39)), EnvironmentError); // CAP_BPF alone is not enough for tracing
});

test('CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN on kernels before 5.8, is enough', () => {
  preflight(kernel, bit(39) | bit(38));
  preflight(kernel, bit(21));
});

test('a kernel without BTF is named with the config option that fixes it', () => {
  assert.throws(() => preflight({ ...kernel, btf: false }, bit(21)), /CONFIG_DEBUG_INFO_BTF/);
});
