// Prints the configuration table of docs/configuration.md from the schema, so the two cannot
// drift apart (test/unit/readme.test.ts checks the page holds exactly this table; node
// scripts/update-readme.ts writes it).
import { schema, keyPaths, envName } from '../src/config/schema.ts';

export function configTable(): string {
  const rows = ['| key | environment variable | default | meaning |', '|---|---|---|---|'];
  for (const path of keyPaths()) {
    let node: Record<string, unknown> = schema as unknown as Record<string, unknown>;
    for (const part of path.split('.')) node = node[part] as Record<string, unknown>;
    const def = JSON.stringify(node.default);
    rows.push(`| \`${path}\` | \`${envName(path)}\` | \`${def}\` | ${String(node.doc).replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n');
}

if (import.meta.main) process.stdout.write(configTable() + '\n');
