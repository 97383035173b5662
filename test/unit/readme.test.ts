// The README and docs/ stay true to the code: the config table of docs/configuration.md and the
// README's key list are the schema's, and the README names every metric and flag the product
// has. The README stays a first-time user's page: at most 15 KB, with the two commands, and
// every link of it and of the pages it leads to reaches a file (and heading) that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { CONFIGURATION, README, ROOT, withConfigKeys, withConfigTable } from '../../scripts/update-readme.ts';
import { METRIC } from '../../src/telemetry/semconv.ts';
import { USAGE } from '../../src/cli/args.ts';

const readme = readFileSync(README, 'utf8');

test('the config table of docs/configuration.md matches the schema (regenerate with node scripts/update-readme.ts)', () => {
  const doc = readFileSync(CONFIGURATION, 'utf8');
  assert.equal(doc, withConfigTable(doc));
});

test('the README lists every config key of the schema (regenerate with node scripts/update-readme.ts)', () => {
  assert.equal(readme, withConfigKeys(readme));
});

test('the README names every metric mem-watcher exports', () => {
  for (const name of Object.values(METRIC)) {
    const short = name.split('.').pop()!;
    assert.ok(readme.includes(name) || readme.includes(`\`.${short}\``), `${name} missing from README`);
  }
});

test('the README documents every long flag of --help', () => {
  for (const m of USAGE.matchAll(/--([a-z][a-z-]+)/g)) {
    assert.ok(readme.includes(`--${m[1]}`), `--${m[1]} missing from README`);
  }
});

test('the README is at most 15 KB and keeps the two commands', () => {
  const bytes = Buffer.byteLength(readme);
  assert.ok(bytes <= 15_000, `README.md is ${bytes} bytes: move detail into docs/ (at most 15,000)`);
  assert.match(readme, /^npm start\b/m);
  assert.match(readme, /^npm test\b/m);
});

/** GitHub's anchors of a markdown file's headings. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutCode(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Markdown without fenced code blocks and inline code (their brackets are not links). */
function withoutCode(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Every relative link target of a markdown file: [text](target) and [text]: target. */
function relativeLinks(markdown: string): string[] {
  const text = withoutCode(markdown);
  const targets = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g), ...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

/** What is wrong with the relative links of one markdown file. */
function brokenLinks(file: string): string[] {
  const bad: string[] = [];
  const text = readFileSync(file, 'utf8');
  for (const link of relativeLinks(text)) {
    const [path, anchor] = link.split('#', 2) as [string, string | undefined];
    const target = path ? resolve(dirname(file), decodeURIComponent(path)) : file;
    const where = `${relative(ROOT, file)}: ${link}`;
    if (!target.startsWith(ROOT + '/') && target !== ROOT) bad.push(`${where} leaves the repository`);
    else if (!existsSync(target)) bad.push(`${where}: no such file`);
    else if (anchor && target.endsWith('.md') && statSync(target).isFile() && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
      bad.push(`${where}: no heading with that anchor`);
    }
  }
  return bad;
}

const DOCS = join(ROOT, 'docs');
const pages = () => [README, ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => join(DOCS, f)), join(ROOT, 'bench/RESULTS.md')];

test('the README, docs/*.md and bench/RESULTS.md link only to files and headings that exist', () => {
  assert.deepEqual(pages().flatMap(brokenLinks), []);
});

test('the README links to every page of docs/ and to bench/RESULTS.md', () => {
  const linked = new Set(relativeLinks(readme).map((l) => resolve(ROOT, l.split('#')[0]!)));
  for (const page of pages().slice(1)) assert.ok(linked.has(page), `README.md does not link to ${relative(ROOT, page)}`);
});

test('the link check finds links, anchors and what is broken', () => {
  assert.deepEqual(relativeLinks('[a](docs/x.md#y) [b](https://e.org) `[c](no)`\n```\n[d](no)\n```\n[e]: ../f.md\n'), ['docs/x.md#y', '../f.md']);
  assert.deepEqual([...anchors('# A b\n## Add to your OTel pipeline\n## A b\n```\n# not\n```\n')], ['a-b', 'add-to-your-otel-pipeline', 'a-b-1']);
});
