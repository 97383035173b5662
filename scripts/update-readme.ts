// Regenerates the generated parts of README.md (the config table) in place.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable } from './config-table.ts';

export const README = join(import.meta.dirname, '../README.md');

export function withConfigTable(readme: string): string {
  return readme.replace(/(<!-- config-table:start -->\n)[\s\S]*?(<!-- config-table:end -->)/, `$1${configTable()}\n$2`);
}

if (import.meta.main) writeFileSync(README, withConfigTable(readFileSync(README, 'utf8')));
