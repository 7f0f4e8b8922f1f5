// Runs a sai machine's exported XState config in the real XState v5 and reports, step by step,
// what XState did: whether the event could be taken, the state after it, and the actions run.
//
//   node run.mjs input.json   (input: {"config": <xstate_config()>, "runs": [[event, …], …]})
//
// Guards are bound to the same decisions as sai's test machine: guard `gN` passes when bit N
// of the event's `bits` is set; a guard name is `g`/`not(g)` terms joined with ` && `. Actions
// only record their names, in the order XState runs them.
import { readFileSync } from 'node:fs';
import { createActor, setup } from 'xstate';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const guardNames = new Set();
const actionNames = new Set();
function collect(node) {
  const visit = (t) => {
    if (t.guard) guardNames.add(t.guard);
    for (const a of t.actions ?? []) actionNames.add(a);
  };
  for (const list of Object.values(node.on ?? {})) list.forEach(visit);
  (node.always ?? []).forEach(visit);
  for (const a of [...(node.entry ?? []), ...(node.exit ?? [])]) actionNames.add(a);
  for (const child of Object.values(node.states ?? {})) collect(child);
}
collect(input.config);

const decide = (name, event) =>
  name.split(' && ').every((term) => {
    const negated = term.startsWith('not(');
    const guard = negated ? term.slice(4, -1) : term;
    const bit = Number(guard.replace(/^g/, ''));
    const set = (((event.bits ?? 0) >> bit) & 1) === 1;
    return set !== negated;
  });

let log = [];
const guards = Object.fromEntries(
  [...guardNames].map((name) => [name, ({ event }) => decide(name, event)]),
);
const actions = Object.fromEntries(
  [...actionNames].map((name) => [name, () => { log.push(name); }]),
);
const machine = setup({ guards, actions }).createMachine(input.config);

// `{"Work": "Busy"}` → `Work.Busy`, the way sai names nested states.
const path = (value) =>
  typeof value === 'string'
    ? value
    : Object.entries(value).map(([key, inner]) => `${key}.${path(inner)}`)[0];

const results = input.runs.map((events) => {
  const actor = createActor(machine).start();
  return events.map((event) => {
    const before = actor.getSnapshot();
    const can = before.status === 'active' && before.can(event);
    log = [];
    actor.send(event);
    return { can, state: path(actor.getSnapshot().value), actions: log };
  });
});
process.stdout.write(JSON.stringify(results));
