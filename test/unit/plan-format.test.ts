import { describe, expect, it } from 'vitest';
import { type PlanParseResult, parsePlanMd, planTasks } from '../../src/backlog/plan-format.js';

/** A task as YAML lines at the indentation a story's task list uses. */
function task(key: string, extra: string[] = [], plan = `Do ${key}.`): string[] {
  return [
    `          - key: ${key}`,
    `            title: Task ${key}`,
    `            implementation_plan: ${plan}`,
    ...extra.map((line) => `            ${line}`),
  ];
}

function md(frontmatter: string[], body = ''): string {
  return ['---', ...frontmatter, '---', body].join('\n');
}

/** A plan with one PBI, one story and the given task lines. */
function oneStory(taskLines: string[]): string {
  return md(['pbis:', '  - title: P', '    stories:', '      - title: S', '        tasks:', ...taskLines]);
}

function errorsOf(result: PlanParseResult): string[] {
  if (result.ok) throw new Error(`expected the plan to be rejected, but it parsed: ${JSON.stringify(result.plan)}`);
  return result.errors;
}

function planOf(result: PlanParseResult) {
  if (!result.ok) throw new Error(`expected the plan to parse, but got: ${result.errors.join('; ')}`);
  return result;
}

const FULL_PLAN = md(
  [
    'pbis:',
    '  - title: Accounts',
    '    description: People can sign up.',
    '    priority: 2',
    '    stories:',
    '      - title: Sign up',
    '        description: The form and the endpoint.',
    '        tasks:',
    '          - key: schema',
    '            title: Users table',
    '            description: A migration.',
    '            implementation_plan: |',
    '              1. Add a migration.',
    '              2. Run it.',
    '          - key: signup-api',
    '            title: Sign-up endpoint',
    '            implementation_plan: POST /users.',
    '            depends_on: [schema]',
    '      - title: Log in',
    '        tasks:',
    '          - key: login_api',
    '            title: Log-in endpoint',
    '            implementation_plan: POST /sessions.',
    '            depends_on:',
    '              - schema',
    '              - signup-api',
    '  - title: Billing',
    '    stories:',
    '      - title: Invoices',
    '        tasks:',
    '          - key: invoices',
    '            title: Invoice table',
    '            implementation_plan: Another migration.',
    '            depends_on: [login_api]',
  ],
  '\n## Notes\n\nAsk about taxes.\n\n',
);

describe('parsePlanMd on a valid plan', () => {
  it('parses PBIs, stories and tasks into the plan structure, filling defaults', () => {
    const { plan } = planOf(parsePlanMd(FULL_PLAN));
    expect(plan).toEqual({
      pbis: [
        {
          title: 'Accounts',
          description: 'People can sign up.',
          priority: 2,
          stories: [
            {
              title: 'Sign up',
              description: 'The form and the endpoint.',
              tasks: [
                {
                  key: 'schema',
                  title: 'Users table',
                  description: 'A migration.',
                  implementation_plan: '1. Add a migration.\n2. Run it.',
                  depends_on: [],
                },
                {
                  key: 'signup-api',
                  title: 'Sign-up endpoint',
                  description: '',
                  implementation_plan: 'POST /users.',
                  depends_on: ['schema'],
                },
              ],
            },
            {
              title: 'Log in',
              description: '',
              tasks: [
                {
                  key: 'login_api',
                  title: 'Log-in endpoint',
                  description: '',
                  implementation_plan: 'POST /sessions.',
                  depends_on: ['schema', 'signup-api'],
                },
              ],
            },
          ],
        },
        {
          title: 'Billing',
          description: '',
          priority: 0,
          stories: [
            {
              title: 'Invoices',
              description: '',
              tasks: [
                {
                  key: 'invoices',
                  title: 'Invoice table',
                  description: '',
                  implementation_plan: 'Another migration.',
                  depends_on: ['login_api'],
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it('returns the trimmed markdown after the frontmatter as notes', () => {
    expect(planOf(parsePlanMd(FULL_PLAN)).notes).toBe('## Notes\n\nAsk about taxes.');
  });

  it('returns empty notes when nothing follows the frontmatter', () => {
    expect(planOf(parsePlanMd(oneStory(task('a')))).notes).toBe('');
  });

  it('lists every task with the path a user would use to find it', () => {
    const { plan } = planOf(parsePlanMd(FULL_PLAN));
    expect(planTasks(plan).map(({ task, path }) => [task.key, path])).toEqual([
      ['schema', 'pbis[0].stories[0].tasks[0]'],
      ['signup-api', 'pbis[0].stories[0].tasks[1]'],
      ['login_api', 'pbis[0].stories[1].tasks[0]'],
      ['invoices', 'pbis[1].stories[0].tasks[0]'],
    ]);
  });

  it('accepts CRLF line endings and a leading byte order mark', () => {
    const windows = `\uFEFF${FULL_PLAN.replace(/\n/g, '\r\n')}`;
    const parsed = planOf(parsePlanMd(windows));
    expect(parsed.plan).toEqual(planOf(parsePlanMd(FULL_PLAN)).plan);
    // Line endings are normalised: the notes come back with \n.
    expect(parsed.notes).toBe('## Notes\n\nAsk about taxes.');
  });

  it('trims surrounding whitespace from text fields', () => {
    const { plan } = planOf(
      parsePlanMd(oneStory(['          - key: "  a  "', '            title: "  Spaced  "', '            implementation_plan: "  go  "'])),
    );
    expect(plan.pbis[0]!.stories[0]!.tasks[0]).toMatchObject({ key: 'a', title: 'Spaced', implementation_plan: 'go' });
  });

  it('tolerates unknown fields and strips them from the plan', () => {
    const { plan } = planOf(
      parsePlanMd(
        md([
          'owner: someone',
          'pbis:',
          '  - title: P',
          '    labels: [x]',
          '    stories:',
          '      - title: S',
          '        estimate: 3',
          '        tasks:',
          ...task('a', ['assignee: bob']),
        ]),
      ),
    );
    expect(plan).not.toHaveProperty('owner');
    expect(plan.pbis[0]).not.toHaveProperty('labels');
    expect(plan.pbis[0]!.stories[0]).not.toHaveProperty('estimate');
    expect(plan.pbis[0]!.stories[0]!.tasks[0]).not.toHaveProperty('assignee');
    expect(plan.pbis[0]!.stories[0]!.tasks[0]!.key).toBe('a');
  });
});

describe('parsePlanMd on the frontmatter itself', () => {
  const MISSING = 'the plan must start with YAML frontmatter between two --- lines';

  it('rejects markdown without frontmatter', () => {
    expect(errorsOf(parsePlanMd('# A plan\n\npbis: []\n'))).toEqual([MISSING]);
  });

  it('rejects frontmatter that is opened but never closed', () => {
    expect(errorsOf(parsePlanMd('---\npbis:\n  - title: P\n'))).toEqual([MISSING]);
  });

  it('rejects text before the frontmatter', () => {
    expect(errorsOf(parsePlanMd(`Here is the plan:\n${oneStory(task('a'))}`))).toEqual([MISSING]);
  });

  it('rejects invalid YAML with an error that names the line of the markdown', () => {
    // Line 1 is the opening ---, so the broken mapping on frontmatter line 3 is line 4.
    const errors = errorsOf(parsePlanMd(md(['pbis:', '  - title: P', '    stories: a: b', '    more: x'])));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^the frontmatter is not valid YAML \(line 4\): \S/);
  });

  it('rejects YAML whose mapping repeats a key', () => {
    const errors = errorsOf(parsePlanMd(md(['pbis: []', 'pbis: []'])));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^the frontmatter is not valid YAML \(line 3\): /);
  });

  it('rejects empty frontmatter as a plan without pbis', () => {
    expect(errorsOf(parsePlanMd('---\n\n---\nnotes'))).toEqual(['pbis: pbis must be a list']);
  });

  it('rejects frontmatter that is not a mapping, naming the frontmatter as the path', () => {
    const errors = errorsOf(parsePlanMd(md(['- just', '- a list'])));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^frontmatter: /);
  });

  it('rejects pbis that is not a list', () => {
    expect(errorsOf(parsePlanMd(md(['pbis: all of them'])))).toEqual(['pbis: pbis must be a list']);
  });

  it('rejects a plan with no PBIs', () => {
    expect(errorsOf(parsePlanMd(md(['pbis: []'])))).toEqual(['pbis: a plan needs at least one PBI']);
  });
});

describe('parsePlanMd on the shape of PBIs, stories and tasks', () => {
  it('rejects a PBI without stories', () => {
    expect(errorsOf(parsePlanMd(md(['pbis:', '  - title: P'])))).toEqual(['pbis[0].stories: stories must be a list']);
  });

  it('rejects a PBI whose story list is empty', () => {
    expect(errorsOf(parsePlanMd(md(['pbis:', '  - title: P', '    stories: []'])))).toEqual([
      'pbis[0].stories: a PBI needs at least one story',
    ]);
  });

  it('rejects a story without tasks, naming the story', () => {
    const errors = errorsOf(
      parsePlanMd(md(['pbis:', '  - title: P', '    stories:', '      - title: S1', '        tasks:', ...task('a'), '      - title: S2'])),
    );
    expect(errors).toEqual(['pbis[0].stories[1].tasks: tasks must be a list']);
  });

  it('rejects a story whose task list is empty', () => {
    const errors = errorsOf(parsePlanMd(md(['pbis:', '  - title: P', '    stories:', '      - title: S', '        tasks: []'])));
    expect(errors).toEqual(['pbis[0].stories[0].tasks: a story needs at least one task']);
  });

  it('rejects a task whose implementation plan is blank, naming the task', () => {
    const errors = errorsOf(
      parsePlanMd(
        md([
          'pbis:',
          '  - title: P',
          '    stories:',
          '      - title: S1',
          '        tasks:',
          ...task('a'),
          '      - title: S2',
          '        tasks:',
          ...task('b', [], '"   "'),
        ]),
      ),
    );
    expect(errors).toEqual(['pbis[0].stories[1].tasks[0].implementation_plan: implementation_plan is required']);
  });

  it('rejects a task without an implementation plan as a missing implementation plan', () => {
    // BUG: the message for an absent field is "implementation_plan must be text" (see the report).
    const errors = errorsOf(parsePlanMd(oneStory(['          - key: a', '            title: Task a'])));
    expect(errors).toEqual(['pbis[0].stories[0].tasks[0].implementation_plan: implementation_plan is required']);
  });

  it('rejects an implementation plan that is not text', () => {
    const errors = errorsOf(
      parsePlanMd(oneStory(['          - key: a', '            title: Task a', '            implementation_plan: [1, 2]'])),
    );
    expect(errors).toEqual(['pbis[0].stories[0].tasks[0].implementation_plan: implementation_plan must be text']);
  });

  it.each([
    ['uppercase letters', 'Schema'],
    ['a space', 'two words'],
    ['a leading dash', '-a'],
    ['65 characters', 'a'.repeat(65)],
  ])('rejects a task key with %s', (_, key) => {
    const errors = errorsOf(parsePlanMd(oneStory(task(JSON.stringify(key)))));
    expect(errors).toEqual([
      'pbis[0].stories[0].tasks[0].key: key must be 1-64 lowercase letters, digits, - or _, starting with a letter or digit',
    ]);
  });

  it('accepts a key of 64 characters', () => {
    expect(parsePlanMd(oneStory(task('a'.repeat(64)))).ok).toBe(true);
  });

  it('rejects a blank title', () => {
    expect(
      errorsOf(parsePlanMd(md(['pbis:', '  - title: ""', '    stories:', '      - title: S', '        tasks:', ...task('a')]))),
    ).toEqual(['pbis[0].title: title is required']);
  });

  it('rejects a title over 300 characters with a message about its length', () => {
    // BUG: the message is "title must be text" (see the report); zod's own wording is not pinned.
    const long = 'x'.repeat(301);
    const errors = errorsOf(
      parsePlanMd(md(['pbis:', `  - title: ${long}`, '    stories:', '      - title: S', '        tasks:', ...task('a')])),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^pbis\[0\]\.title: /);
    expect(errors[0]).not.toContain('must be text');
    expect(errors[0]).toContain('300');
  });

  it('rejects a priority that is not a whole number', () => {
    expect(
      errorsOf(
        parsePlanMd(md(['pbis:', '  - title: P', '    priority: 1.5', '    stories:', '      - title: S', '        tasks:', ...task('a')])),
      ),
    ).toEqual(['pbis[0].priority: priority must be a whole number']);
  });

  it('reports every shape error at once, each with its own path', () => {
    const errors = errorsOf(
      parsePlanMd(
        md([
          'pbis:',
          '  - title: P',
          '    priority: high',
          '    stories:',
          '      - title: S',
          '        tasks:',
          '          - key: Bad Key',
          '            title: T',
          '            implementation_plan: ""',
          '  - title: Q',
          '    stories: []',
        ]),
      ),
    );
    expect(errors).toEqual([
      'pbis[0].priority: priority must be a whole number',
      'pbis[0].stories[0].tasks[0].key: key must be 1-64 lowercase letters, digits, - or _, starting with a letter or digit',
      'pbis[0].stories[0].tasks[0].implementation_plan: implementation_plan is required',
      'pbis[1].stories: a PBI needs at least one story',
    ]);
  });
});

describe('parsePlanMd on dependencies between tasks', () => {
  it('rejects a key used by two tasks, naming both', () => {
    const errors = errorsOf(
      parsePlanMd(
        md([
          'pbis:',
          '  - title: P',
          '    stories:',
          '      - title: S1',
          '        tasks:',
          ...task('a'),
          '      - title: S2',
          '        tasks:',
          ...task('a'),
        ]),
      ),
    );
    expect(errors).toEqual(['pbis[0].stories[1].tasks[0].key: "a" is also the key of pbis[0].stories[0].tasks[0]']);
  });

  it('rejects a dependency on a key no task has', () => {
    const errors = errorsOf(parsePlanMd(oneStory([...task('a'), ...task('b', ['depends_on: [a, ghost]'])])));
    expect(errors).toEqual(['pbis[0].stories[0].tasks[1].depends_on[1]: no task has the key "ghost"']);
  });

  it('rejects a task that depends on itself', () => {
    const errors = errorsOf(parsePlanMd(oneStory(task('a', ['depends_on: [a]']))));
    expect(errors).toEqual(['pbis[0].stories[0].tasks[0].depends_on[0]: a task cannot depend on itself']);
  });

  it('rejects a dependency cycle, naming the cycle as a path', () => {
    const errors = errorsOf(parsePlanMd(oneStory([...task('a', ['depends_on: [b]']), ...task('b', ['depends_on: [a]'])])));
    expect(errors).toEqual(['depends_on: the tasks a -> b -> a depend on each other in a cycle']);
  });

  it('names only the tasks of a longer cycle, not the tasks that merely wait on it', () => {
    const errors = errorsOf(
      parsePlanMd(
        oneStory([
          ...task('root'),
          ...task('waiter', ['depends_on: [x]']),
          ...task('x', ['depends_on: [y, root]']),
          ...task('y', ['depends_on: [z]']),
          ...task('z', ['depends_on: [x]']),
        ]),
      ),
    );
    expect(errors).toEqual(['depends_on: the tasks x -> y -> z -> x depend on each other in a cycle']);
  });

  it('reports every dependency error at once', () => {
    const errors = errorsOf(parsePlanMd(oneStory([...task('a', ['depends_on: [a, nope]']), ...task('a')])));
    expect(errors).toEqual([
      'pbis[0].stories[0].tasks[1].key: "a" is also the key of pbis[0].stories[0].tasks[0]',
      'pbis[0].stories[0].tasks[0].depends_on[0]: a task cannot depend on itself',
      'pbis[0].stories[0].tasks[0].depends_on[1]: no task has the key "nope"',
    ]);
  });

  it('accepts dependencies across stories and PBIs in any order of appearance', () => {
    const { plan } = planOf(
      parsePlanMd(
        md([
          'pbis:',
          '  - title: P',
          '    stories:',
          '      - title: S',
          '        tasks:',
          ...task('late', ['depends_on: [early]']),
          '  - title: Q',
          '    stories:',
          '      - title: T',
          '        tasks:',
          ...task('early'),
        ]),
      ),
    );
    expect(plan.pbis[0]!.stories[0]!.tasks[0]!.depends_on).toEqual(['early']);
  });
});
