/**
 * Kahn's algorithm over "a depends on b" edges: an order in which every node comes after the
 * nodes it depends on, or the cycle that makes such an order impossible.
 */
export type TopologicalResult<K> = { ok: true; order: K[] } | { ok: false; cycle: K[] };

/**
 * @param nodes every node, in the order ties should keep (a stable order for equal rank)
 * @param dependsOn the edges, as [node, node it depends on]
 */
export function topologicalOrder<K>(nodes: readonly K[], dependsOn: readonly (readonly [K, K])[]): TopologicalResult<K> {
  const waitingOn = new Map<K, number>(nodes.map((node) => [node, 0]));
  const dependents = new Map<K, K[]>(nodes.map((node) => [node, []]));
  for (const [node, dependency] of dependsOn) {
    if (!waitingOn.has(node) || !waitingOn.has(dependency)) throw new Error('topologicalOrder: an edge names an unknown node');
    waitingOn.set(node, waitingOn.get(node)! + 1);
    dependents.get(dependency)!.push(node);
  }

  // Ready nodes leave in input order (a stable order), whenever they became ready.
  const rank = new Map(nodes.map((node, index) => [node, index]));
  const ready = nodes.filter((node) => waitingOn.get(node) === 0);
  const order: K[] = [];
  while (ready.length > 0) {
    const node = ready.shift()!;
    order.push(node);
    for (const dependent of dependents.get(node)!) {
      const left = waitingOn.get(dependent)! - 1;
      waitingOn.set(dependent, left);
      if (left === 0) insertByRank(ready, dependent, rank);
    }
  }
  if (order.length === nodes.length) return { ok: true, order };
  return {
    ok: false,
    cycle: findCycle(
      nodes.filter((node) => waitingOn.get(node)! > 0),
      dependsOn,
    ),
  };
}

function insertByRank<K>(sorted: K[], node: K, rank: Map<K, number>) {
  const at = sorted.findIndex((other) => rank.get(other)! > rank.get(node)!);
  if (at === -1) sorted.push(node);
  else sorted.splice(at, 0, node);
}

/** One cycle among the nodes Kahn's algorithm could not place, as a path a -> b -> ... -> a. */
function findCycle<K>(stuck: readonly K[], dependsOn: readonly (readonly [K, K])[]): K[] {
  const inStuck = new Set(stuck);
  const next = new Map<K, K>();
  for (const [node, dependency] of dependsOn) {
    if (inStuck.has(node) && inStuck.has(dependency) && !next.has(node)) next.set(node, dependency);
  }
  // Every stuck node waits on another stuck node, so walking "depends on" must revisit one.
  const seen = new Map<K, number>();
  const path: K[] = [];
  let node = stuck[0]!;
  while (!seen.has(node)) {
    seen.set(node, path.length);
    path.push(node);
    node = next.get(node)!;
  }
  return [...path.slice(seen.get(node)!), node];
}
