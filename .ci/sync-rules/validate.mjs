// Validates a sync-rules YAML file with PowerSync's own validator.
// Usage: node validate.mjs RULES.yaml SOURCE_SCHEMA.json
// Exits non-zero and prints every problem (errors and warnings) if there is any.
import { readFileSync } from 'node:fs';
import { SqlSyncRules, StaticSchema } from '@powersync/service-sync-rules';

const [rulesPath, schemaPath] = process.argv.slice(2);
if (!rulesPath || !schemaPath) {
  console.error('usage: node validate.mjs RULES.yaml SOURCE_SCHEMA.json');
  process.exit(2);
}
const yaml = readFileSync(rulesPath, 'utf8');
const schema = new StaticSchema(JSON.parse(readFileSync(schemaPath, 'utf8')));
const problems = SqlSyncRules.validate(yaml, { schema, defaultSchema: 'public' });
for (const p of problems) {
  console.error(`${p.type ?? 'error'}: ${p.message}`);
}
if (problems.length > 0) process.exit(1);
console.log(`sync rules valid: ${rulesPath}`);
