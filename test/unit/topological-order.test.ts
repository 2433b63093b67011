import { describe, expect, it } from 'vitest';
import { topologicalOrder } from '../../src/backlog/topological-order.js';

type Edge = readonly [string, string];

function orderOf(nodes: string[], edges: Edge[]): string[] {
  const result = topologicalOrder(nodes, edges);
  if (!result.ok) throw new Error(`expected an order, got the cycle ${result.cycle.join(' -> ')}`);
  return result.order;
}

function cycleOf(nodes: string[], edges: Edge[]): string[] {
  const result = topologicalOrder(nodes, edges);
  if (result.ok) throw new Error(`expected a cycle, got the order ${result.order.join(', ')}`);
  return result.cycle;
}

/** Every node comes after every node it depends on, and each node appears exactly once. */
function expectRespects(order: string[], nodes: string[], edges: Edge[]) {
  expect([...order].sort()).toEqual([...nodes].sort());
  for (const [node, dependency] of edges) {
    expect(order.indexOf(dependency), `${node} depends on ${dependency}`).toBeLessThan(order.indexOf(node));
  }
}

/** A cycle is a closed path whose every step is an edge of the graph. */
function expectClosedPath(cycle: string[], edges: Edge[]) {
  expect(cycle.length).toBeGreaterThanOrEqual(3);
  expect(cycle.at(-1)).toBe(cycle[0]);
  expect(new Set(cycle.slice(0, -1)).size).toBe(cycle.length - 1);
  const isEdge = (from: string, to: string) => edges.some(([node, dependency]) => node === from && dependency === to);
  for (let i = 0; i + 1 < cycle.length; i++) expect(isEdge(cycle[i]!, cycle[i + 1]!), `${cycle[i]} -> ${cycle[i + 1]}`).toBe(true);
}

describe('topologicalOrder', () => {
  it('puts every node after the nodes it depends on', () => {
    const nodes = ['deploy', 'test', 'build', 'fetch'];
    const edges: Edge[] = [
      ['deploy', 'test'],
      ['test', 'build'],
      ['build', 'fetch'],
    ];
    const order = orderOf(nodes, edges);
    expect(order).toEqual(['fetch', 'build', 'test', 'deploy']);
    expectRespects(order, nodes, edges);
  });

  it('keeps independent nodes in their input order', () => {
    expect(orderOf(['c', 'a', 'b'], [])).toEqual(['c', 'a', 'b']);
    expect(orderOf(['b', 'c', 'a'], [])).toEqual(['b', 'c', 'a']);
  });

  it('keeps the input order among nodes that become ready together', () => {
    // z, y and x all wait only on root, so they follow it in the order they were given (the
    // documented contract of `nodes`). BUG: they follow the order of the edges instead.
    expect(
      orderOf(
        ['z', 'root', 'y', 'x'],
        [
          ['x', 'root'],
          ['z', 'root'],
          ['y', 'root'],
        ],
      ),
    ).toEqual(['root', 'z', 'y', 'x']);
  });

  it('orders a diamond with the shared dependency first and the join last', () => {
    const nodes = ['top', 'left', 'right', 'bottom'];
    const edges: Edge[] = [
      ['top', 'left'],
      ['top', 'right'],
      ['left', 'bottom'],
      ['right', 'bottom'],
    ];
    const order = orderOf(nodes, edges);
    expect(order).toEqual(['bottom', 'left', 'right', 'top']);
    expectRespects(order, nodes, edges);
  });

  it('tolerates the same edge given twice', () => {
    expect(
      orderOf(
        ['a', 'b'],
        [
          ['a', 'b'],
          ['a', 'b'],
        ],
      ),
    ).toEqual(['b', 'a']);
  });

  it('returns an empty order for an empty graph', () => {
    expect(orderOf([], [])).toEqual([]);
  });

  it('reports a two-node cycle as a closed path', () => {
    const edges: Edge[] = [
      ['a', 'b'],
      ['b', 'a'],
    ];
    const cycle = cycleOf(['a', 'b'], edges);
    expect(cycle).toEqual(['a', 'b', 'a']);
    expectClosedPath(cycle, edges);
  });

  it('reports a self-loop as the node depending on itself', () => {
    expect(cycleOf(['a', 'b'], [['a', 'a']])).toEqual(['a', 'a']);
  });

  it('finds a 3-cycle inside a larger graph without naming the acyclic part', () => {
    // "waiter" is stuck too (it depends on the cycle) and comes first, so the walk starts outside
    // the cycle and must cut its way in; "free" and "base" are placeable and must not appear.
    const nodes = ['free', 'waiter', 'base', 'x', 'y', 'z', 'after'];
    const edges: Edge[] = [
      ['waiter', 'x'],
      ['x', 'base'],
      ['x', 'y'],
      ['y', 'z'],
      ['z', 'x'],
      ['after', 'base'],
    ];
    const cycle = cycleOf(nodes, edges);
    expectClosedPath(cycle, edges);
    expect(new Set(cycle)).toEqual(new Set(['x', 'y', 'z']));
    for (const outside of ['free', 'waiter', 'base', 'after']) expect(cycle).not.toContain(outside);
  });

  it('throws when an edge names a node that is not in the list', () => {
    expect(() => topologicalOrder(['a'], [['a', 'ghost']])).toThrow(/unknown node/);
    expect(() => topologicalOrder(['a'], [['ghost', 'a']])).toThrow(/unknown node/);
  });
});
