// Evaluates sync rules with PowerSync's own engine: which rows each user would download.
// Usage: node evaluate.mjs RULES.yaml ROWS.json USER...
// ROWS.json: [{"table": "...", "row": {...}}, ...], every row of the server's synced tables.
// Prints {"<user>": [["<table>", "<id>"], ...], ...}: each user's rows, through the buckets
// the rules give them (static ones and those found through the parameter queries).
import { readFileSync } from 'node:fs';
import {
  DEFAULT_HYDRATION_STATE,
  BaseJwtPayload,
  RequestParameters,
  SqlSyncRules,
} from '@powersync/service-sync-rules';

const [rulesPath, rowsPath, ...users] = process.argv.slice(2);
if (!rulesPath || !rowsPath) {
  console.error('usage: node evaluate.mjs RULES.yaml ROWS.json USER...');
  process.exit(2);
}
const { config } = SqlSyncRules.fromYaml(readFileSync(rulesPath, 'utf8'), {
  defaultSchema: 'public',
  throwOnError: true,
});
const rules = config.hydrate({ hydrationState: DEFAULT_HYDRATION_STATE, sqlite: null });
const source = (name) => ({ connectionTag: 'default', schema: 'public', name });

// The parameter index replication would build, and each bucket's rows.
const index = new Map();
const buckets = new Map();
for (const { table, row } of JSON.parse(readFileSync(rowsPath, 'utf8'))) {
  for (const p of rules.evaluateParameterRow(source(table), row)) {
    const key = p.lookup.serializedRepresentation;
    index.set(key, [...(index.get(key) ?? []), ...p.bucketParameters]);
  }
  for (const r of rules.evaluateRow({ sourceTable: source(table), record: row })) {
    if (r.error) throw new Error(r.error);
    buckets.set(r.bucket, [...(buckets.get(r.bucket) ?? []), [r.table, r.id]]);
  }
}
const lookups = {
  getParameterSets: async (wanted) =>
    wanted.map((lookup) => ({ lookup, rows: index.get(lookup.serializedRepresentation) ?? [] })),
};

const out = {};
for (const user of users) {
  const { querier, errors } = rules.getBucketParameterQuerier({
    globalParameters: new RequestParameters(new BaseJwtPayload({ sub: user }), {}),
    hasDefaultStreams: true,
    streams: {},
  });
  if (errors.length > 0) throw new Error(JSON.stringify(errors));
  const resolved = [...querier.staticBuckets];
  if (querier.hasDynamicBuckets) resolved.push(...(await querier.queryDynamicBucketDescriptions(lookups)));
  out[user] = resolved.flatMap((b) => buckets.get(b.bucket) ?? []).sort();
}
console.log(JSON.stringify(out));
