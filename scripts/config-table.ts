// Prints the configuration table of docs/configuration.md from the schema, and the README's
// list of config keys, so neither can drift from the schema (test/unit/readme.test.ts checks
// both hold exactly this; node scripts/update-readme.ts writes them).
import { SCHEMA, keyPaths } from '../src/app/config.ts';
import { envName } from '../src/config/schema.ts';

export function configTable(): string {
  const rows = ['| key | environment variable | default | meaning |', '|---|---|---|---|'];
  for (const path of keyPaths()) {
    let node: Record<string, unknown> = SCHEMA as unknown as Record<string, unknown>;
    for (const part of path.split('.')) node = node[part] as Record<string, unknown>;
    const def = JSON.stringify(node.default);
    rows.push(`| \`${path}\` | \`${envName(path)}\` | \`${def}\` | ${String(node.doc).replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n');
}

/** Every key path, grouped by its parent in schema order: "`exporters`, ...; `probes.paf.`: `enabled`, `strategy`, ...". */
export function configKeyList(): string {
  const groups: Array<{ parent: string; leaves: string[] }> = [];
  for (const path of keyPaths()) {
    const i = path.lastIndexOf('.');
    const parent = i < 0 ? '' : path.slice(0, i + 1);
    const leaf = path.slice(i + 1);
    const last = groups.at(-1);
    if (last && last.parent === parent) last.leaves.push(leaf);
    else groups.push({ parent, leaves: [leaf] });
  }
  return groups.map(({ parent, leaves }) => {
    if (!parent) return leaves.map((l) => `\`${l}\``).join(', ');
    if (leaves.length === 1) return `\`${parent}${leaves[0]}\``;
    return `\`${parent}\`: ${leaves.map((l) => `\`${l}\``).join(', ')}`;
  }).join('; ') + '.';
}

if (import.meta.main) process.stdout.write(configTable() + '\n');
