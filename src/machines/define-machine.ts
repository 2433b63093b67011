/**
 * Turns a state machine written as data (statuses plus a table of edges) into the checks every
 * caller needs. Adding a status or an edge is a change to one table in one *.machine.ts file
 * (plus a migration for the CHECK constraint); nothing else hard-codes an edge.
 */
import { AppError } from '../errors/app-error.js';

/** Who may take an edge: a user through the API, or only the system (workers, sweeper, cascades). */
export type TriggeredBy = 'user' | 'system';

export interface TransitionRule<S extends string> {
  readonly from: S;
  readonly to: S;
  /** A snake_case event name, written into the history row. */
  readonly trigger: string;
  readonly by: TriggeredBy;
  /** What makes this edge happen, in words a user understands (shown when refused). */
  readonly description: string;
}

export interface MachineDefinition<E extends string, T extends string, S extends string> {
  /** The entity_type written into the history table. */
  readonly entity: E;
  /** The table whose `status` column this machine governs. */
  readonly table: T;
  readonly statuses: readonly S[];
  /** The status every new row starts in (also the column's default). */
  readonly initial: S;
  readonly transitions: readonly TransitionRule<S>[];
  /** How users name the entity in messages ("task", "sprint run"). */
  readonly noun: string;
  /** The API spelling of a status, used in every message and error detail users see. */
  readonly spell: (status: S) => string;
}

export interface Machine<E extends string = string, T extends string = string, S extends string = string>
  extends MachineDefinition<E, T, S> {
  /** Statuses with no way out. */
  readonly terminal: readonly S[];
  isStatus(value: string): value is S;
  isTerminal(status: S): boolean;
  canTransition(from: S, to: S, by?: TriggeredBy): boolean;
  /** The statuses reachable in one step from `from`, optionally only by `by`. */
  allowedFrom(from: S, by?: TriggeredBy): S[];
  /** The rules of the edge from → to (several triggers may share one edge). */
  rulesFor(from: S, to: S): readonly TransitionRule<S>[];
  /**
   * The rule that allows from → to with the given trigger (or the only rule of that edge when
   * no trigger is named). Throws invalid_transition (409) naming the allowed next statuses.
   */
  assertTransition(from: S, to: S, options?: { trigger?: string; by?: TriggeredBy }): TransitionRule<S>;
}

export function defineMachine<const E extends string, const T extends string, const S extends string>(
  definition: MachineDefinition<E, T, S>,
): Machine<E, T, S> {
  const statuses = new Set<string>(definition.statuses);
  for (const rule of definition.transitions) {
    if (!statuses.has(rule.from) || !statuses.has(rule.to)) {
      throw new Error(`${definition.entity}: edge ${rule.from} -> ${rule.to} names an unknown status`);
    }
  }
  if (!statuses.has(definition.initial)) {
    throw new Error(`${definition.entity}: initial status ${definition.initial} is unknown`);
  }

  const outgoing = new Map<S, TransitionRule<S>[]>();
  for (const status of definition.statuses) outgoing.set(status, []);
  for (const rule of definition.transitions) outgoing.get(rule.from)!.push(rule);

  const rulesFrom = (from: S, by?: TriggeredBy) => (outgoing.get(from) ?? []).filter((rule) => by === undefined || rule.by === by);

  const allowedFrom = (from: S, by?: TriggeredBy): S[] => [...new Set(rulesFrom(from, by).map((rule) => rule.to))];

  const rulesFor = (from: S, to: S) => rulesFrom(from).filter((rule) => rule.to === to);

  const terminal = definition.statuses.filter((status) => (outgoing.get(status) ?? []).length === 0);

  return Object.freeze({
    ...definition,
    terminal,
    isStatus: (value: string): value is S => statuses.has(value),
    isTerminal: (status: S) => terminal.includes(status),
    canTransition: (from: S, to: S, by?: TriggeredBy) => rulesFor(from, to).some((rule) => by === undefined || rule.by === by),
    allowedFrom,
    rulesFor,
    assertTransition(from: S, to: S, options: { trigger?: string; by?: TriggeredBy } = {}) {
      const { noun, spell } = definition;
      const edge = rulesFor(from, to);
      // Built only for a refusal: the door asks this for every hop of every request in a batch.
      const allowed = () => allowedFrom(from, options.by).map(spell);
      const refuse = (message: string): never => {
        throw new AppError('invalid_transition', message, { entity: noun, from: spell(from), to: spell(to), allowed: allowed() });
      };
      if (edge.length === 0) {
        const next = allowed();
        refuse(`${noun} cannot go from ${spell(from)} to ${spell(to)}; allowed next: ${next.length ? next.join(', ') : 'none (terminal)'}`);
      }
      if (options.by === 'user' && !edge.some((rule) => rule.by === 'user')) {
        refuse(`${noun} ${spell(from)} -> ${spell(to)} is taken only by the system: ${edge.map((r) => r.description).join('; ')}`);
      }
      const candidates = edge.filter((rule) => options.by === undefined || rule.by === options.by);
      if (options.trigger !== undefined) {
        const rule = candidates.find((r) => r.trigger === options.trigger);
        if (!rule) {
          refuse(
            `${noun} ${spell(from)} -> ${spell(to)} has no trigger ${options.trigger}; its triggers: ${candidates.map((r) => r.trigger).join(', ')}`,
          );
        }
        return rule!;
      }
      if (candidates.length > 1) {
        throw new Error(
          `${definition.entity} ${from} -> ${to} has several triggers (${candidates.map((r) => r.trigger).join(', ')}); name one`,
        );
      }
      return candidates[0]!;
    },
  });
}
