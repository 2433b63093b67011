import { SCOPES } from '../../auth/principal.js';
import { createToken, listTokens, revokeToken } from '../../auth/token.repository.js';
import { createLogger } from '../../logger.js';
import { Closers } from '../lifecycle.js';
import { openDatabase } from '../open-services.js';
import { UsageError } from '../usage-error.js';
import { defineCommand } from './command.js';

const USAGE = `token create --name NAME --scopes ${SCOPES.join(',')} [--owner OWNER (default: default)] | token list | token revoke ID`;
const CREATE_ONLY = ['name', 'scopes', 'owner'] as const;

export const tokenCommand = defineCommand({
  summary: 'create (secret shown once), list or revoke API tokens',
  synopsis: 'create --name NAME --scopes S1,S2 [--owner OWNER] | list | revoke ID',
  options: { name: { type: 'string' }, scopes: { type: 'string' }, owner: { type: 'string' } },
  optionHelp: {
    name: ['NAME', 'create: a name to recognise the token by'],
    scopes: ['S1,S2', `create: its scopes, from ${SCOPES.join(', ')}`],
    owner: ['OWNER', 'create: the owner whose products it sees (default: default)'],
  },
  positionalHelp: [
    'actions:',
    '  create     make a token; its secret is printed once',
    '  list       every token, without secrets',
    '  revoke ID  revoke a token',
  ],
  async run({ values, positionals }, config) {
    const [action, ...rest] = positionals;
    const wellFormed =
      (action === 'create' && rest.length === 0) || (action === 'list' && rest.length === 0) || (action === 'revoke' && rest.length === 1);
    if (!wellFormed || (action !== 'create' && CREATE_ONLY.some((option) => values[option] !== undefined))) {
      throw new UsageError(`usage: jobfleet ${USAGE}`);
    }
    const closers = new Closers();
    const logger = createLogger({ LOG_LEVEL: 'warn' });
    try {
      const db = await openDatabase(config, closers, 'jobfleet-token');
      switch (action) {
        case 'create': {
          if (!values.name || !values.scopes) throw new UsageError(`usage: jobfleet ${USAGE}`);
          const owner = values.owner ?? 'default';
          const { token, secret } = await createToken(db, {
            name: values.name,
            ownerId: owner,
            scopes: values.scopes.split(',').map((s) => s.trim()),
          });
          process.stdout.write(
            `${secret}\n\nThat is token "${token.name}" (id ${token.id}) for owner "${token.owner_id}" with scopes ${token.scopes.join(', ')}.\nIt is shown this once; only its hash is stored. Use it as: Authorization: Bearer <token>\n`,
          );
          return 0;
        }
        case 'list': {
          for (const token of await listTokens(db)) {
            process.stdout.write(
              `${token.id}  ${token.token_prefix}…  ${token.name}  owner=${token.owner_id}  scopes=${token.scopes.join(',')}${token.revoked_at ? '  revoked' : ''}\n`,
            );
          }
          return 0;
        }
        case 'revoke': {
          const id = rest[0]!;
          if (!(await revokeToken(db, id))) throw new UsageError(`no active token with id ${id}`);
          process.stdout.write(`revoked ${id}\n`);
          return 0;
        }
        default:
          throw new UsageError(`usage: jobfleet ${USAGE}`);
      }
    } finally {
      await closers.closeAll(logger);
    }
  },
});
