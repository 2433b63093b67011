/**
 * `jobfleet product create|update|list`: products, and the git repository each one names, from
 * the command line, straight in the database (as `token` and `enqueue` do). Input is checked by
 * the API's own schemas, so a value the API refuses is refused here with the same words, naming
 * the flag. Every product is printed as one JSON line, in the API's shape.
 *
 * A product made here belongs to `--owner`, by default `default`: the owner `token create` gives
 * a token when it is not told one, so a token made with the defaults sees these products.
 */
import type { z } from '@hono/zod-openapi';
import { NewProduct, ProductUpdate, toApiProduct } from '../../api/schemas/backlog.schemas.js';
import { listVisibleRows, updateColumns } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { insertProduct } from '../../backlog/product.repository.js';
import type { Db } from '../../db/database.js';
import type { PagePosition } from '../../db/pagination.js';
import type { Product } from '../../db/tables/product.table.js';
import { createLogger } from '../../logger.js';
import { Closers } from '../lifecycle.js';
import { openDatabase } from '../open-services.js';
import { UsageError } from '../usage-error.js';
import { defineCommand } from './command.js';
import { isUuidShape } from '../../util/uuid.js';

export const DEFAULT_PRODUCT_OWNER = 'default';

const USAGE =
  'product create --name NAME [--description TEXT] [--owner OWNER] [--repository URL] [--default-branch BRANCH] [--check-command CMD]' +
  ' | product update ID [the same options but --owner] | product list [--owner OWNER]';

/** Each body field of the API and the flag that sets it. */
const FLAG_OF = {
  name: 'name',
  description: 'description',
  owner_id: 'owner',
  repository_url: 'repository',
  default_branch: 'default-branch',
  check_command: 'check-command',
} as const;
type Field = keyof typeof FLAG_OF;
type Flag = (typeof FLAG_OF)[Field];

/** Which flags each action takes. */
const FLAGS_OF_ACTION: Record<string, readonly Flag[]> = {
  create: ['name', 'description', 'owner', 'repository', 'default-branch', 'check-command'],
  update: ['name', 'description', 'repository', 'default-branch', 'check-command'],
  list: ['owner'],
};

export const productCommand = defineCommand({
  summary: 'create, update or list products and the git repository each works in (JSON lines)',
  synopsis: 'create --name NAME [options] | update ID [options] | list [--owner OWNER]',
  options: {
    name: { type: 'string' },
    description: { type: 'string' },
    owner: { type: 'string' },
    repository: { type: 'string' },
    'default-branch': { type: 'string' },
    'check-command': { type: 'string' },
  },
  optionHelp: {
    name: ['NAME', 'create, update: its name'],
    description: ['TEXT', 'create, update: what it is'],
    owner: ['OWNER', `create: whose it is (default: ${DEFAULT_PRODUCT_OWNER}, as for token create); list: only this owner's`],
    repository: ['URL', "create, update: the git repository its implementation jobs work in ('' clears it)"],
    'default-branch': ['BRANCH', 'create, update: the branch new work starts from (default: main)'],
    'check-command': ['CMD', "create, update: one command line that verifies a job's work ('' clears it)"],
  },
  positionalHelp: [
    'actions:',
    '  create     make a product; prints it',
    '  update ID  change the given fields of a product; prints it',
    '  list       every product (of --owner), newest first, one per line',
    '',
    'URL: an absolute path, a URL with scheme https, http, ssh, git or file, or user@host:path.',
    'Without a repository, implementation jobs run in the worker directory and nothing is pushed.',
  ],
  async run({ values, positionals }, config) {
    const [action = '', ...rest] = positionals;
    const allowed = Object.hasOwn(FLAGS_OF_ACTION, action) ? FLAGS_OF_ACTION[action] : undefined;
    if (!allowed || rest.length !== (action === 'update' ? 1 : 0)) throw new UsageError(`usage: jobfleet ${USAGE}`);
    const stray = (Object.keys(values) as Flag[]).find((flag) => values[flag] !== undefined && !allowed.includes(flag));
    if (stray) throw new UsageError(`product ${action} takes no --${stray}; usage: jobfleet ${USAGE}`);

    // Everything is checked before a connection is opened: a bad value is a usage error (exit 2).
    const act = planned(action, rest[0], values);
    const closers = new Closers();
    const logger = createLogger({ LOG_LEVEL: 'warn' });
    try {
      const db = await openDatabase(config, closers, 'jobfleet-product');
      for await (const row of act(db)) process.stdout.write(`${JSON.stringify(toApiProduct(row))}\n`);
      return 0;
    } finally {
      await closers.closeAll(logger);
    }
  },
});

type Action = (db: Db) => AsyncIterable<Product>;

/** The action the arguments ask for, its input checked: what it does once given the database. */
function planned(action: string, id: string | undefined, values: Partial<Record<Flag, string>>): Action {
  const body = bodyOf(values);
  if (action === 'create') {
    if (values.name === undefined) throw new UsageError(`product create needs --name; usage: jobfleet ${USAGE}`);
    const product = checked(NewProduct, { ...body, owner_id: values.owner ?? DEFAULT_PRODUCT_OWNER });
    return (db) => once(insertProduct(db, { ...product, owner_id: product.owner_id ?? DEFAULT_PRODUCT_OWNER }));
  }
  if (action === 'update') {
    if (!id || !isUuidShape(id)) throw new UsageError(`"${id ?? ''}" is not a product id (a UUID)`);
    if (Object.keys(body).length === 0) throw new UsageError('product update: nothing to change; give at least one option');
    const changes = checked(ProductUpdate, body);
    return (db) =>
      once(
        db.transaction().execute(async (trx) => {
          // An unknown id is an AppError: one line, exit 1.
          await visibleOwnership(trx, 'PRODUCT', id, null);
          return updateColumns(trx, 'PRODUCT', id, changes);
        }),
      );
  }
  return (db) => listProducts(db, values.owner);
}

async function* once(row: Promise<Product>): AsyncIterable<Product> {
  yield await row;
}

/** Every product (of one owner), newest first, a page at a time. */
async function* listProducts(db: Db, owner: string | undefined): AsyncIterable<Product> {
  let after: PagePosition | undefined;
  do {
    const page = await listVisibleRows(db, 'PRODUCT', { equals: { owner_id: owner }, ownerId: null, page: { limit: 200, after } });
    yield* page.items;
    after = page.next ?? undefined;
  } while (after);
}

/** The API body the flags stand for; '' clears the two fields that may be null. */
function bodyOf(values: Partial<Record<Flag, string>>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [field, flag] of Object.entries(FLAG_OF) as [Field, Flag][]) {
    const value = values[flag];
    if (value === undefined || field === 'owner_id') continue;
    body[field] = value === '' && (field === 'repository_url' || field === 'check_command') ? null : value;
  }
  return body;
}

/** The body as the API's schema reads it, or a UsageError naming each bad flag and what is allowed. */
function checked<S extends z.ZodType>(schema: S, body: Record<string, unknown>): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    return `${Object.hasOwn(FLAG_OF, field) ? `--${FLAG_OF[field as Field]}` : field || 'input'}: ${issue.message}`;
  });
  throw new UsageError(problems.join('; '));
}
