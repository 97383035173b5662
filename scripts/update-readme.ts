// Regenerates the generated parts of the documentation in place: the configuration table of
// docs/configuration.md and the README's list of config keys, both from the schema. (The
// attach-strategy table of docs/architecture.md: scripts/strategy-table.ts --write.)
//
//   node scripts/update-readme.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configKeyList, configTable } from './config-table.ts';

export const ROOT = join(import.meta.dirname, '..');
export const README = join(ROOT, 'README.md');
export const CONFIGURATION = join(ROOT, 'docs/configuration.md');
export const ARCHITECTURE = join(ROOT, 'docs/architecture.md');

function between(text: string, name: string, body: string, file: string): string {
  const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(text)) throw new Error(`${file} lacks the <!-- ${name}:start --> ... <!-- ${name}:end --> markers`);
  return text.replace(re, (_, a: string, b: string) => `${a}${body}\n${b}`);
}

/** docs/configuration.md with its table between the config-table markers regenerated. */
export function withConfigTable(doc: string): string {
  return between(doc, 'config-table', configTable(), 'docs/configuration.md');
}

/** README.md with its key list between the config-keys markers regenerated. */
export function withConfigKeys(readme: string): string {
  return between(readme, 'config-keys', configKeyList(), 'README.md');
}

if (import.meta.main) {
  writeFileSync(CONFIGURATION, withConfigTable(readFileSync(CONFIGURATION, 'utf8')));
  writeFileSync(README, withConfigKeys(readFileSync(README, 'utf8')));
}
