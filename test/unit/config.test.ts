import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('reaches Postgres and Redis on this machine by default', () => {
    const config = loadConfig({});
    expect(config.DATABASE_URL).toBe('postgres://127.0.0.1:5432/jobfleet');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.PORT).toBe(3000);
    expect(config.AGENT).toBe('dry-run');
    expect(config.STALE_CLAIM_MS).toBe(1_800_000);
    expect(config.WORKER_KINDS).toEqual(['TASK_IMPLEMENTATION', 'IDEA_GRILL', 'IDEA_MAKE_PLAN', 'PLAN_CHAT', 'SPRINT_IMPLEMENTATION']);
  });

  it('is frozen', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { PORT: number }).PORT = 1;
    }).toThrow(TypeError);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '' }).PORT).toBe(3000);
  });

  it.each([
    ['PORT', 'abc', 'PORT="abc" is not allowed: expected an integer from 0 to 65535'],
    ['PORT', '70000', 'PORT="70000" is not allowed: expected an integer from 0 to 65535'],
    ['AGENT', 'gpt', 'AGENT="gpt" is not allowed: expected one of dry-run, anthropic, command'],
    ['STALE_CLAIM_MS', '10', 'STALE_CLAIM_MS="10" is not allowed: expected an integer from 1000 to'],
    [
      'WORKER_KINDS',
      'idea_grill,cooking',
      'WORKER_KINDS="idea_grill,cooking" is not allowed: expected a comma-separated list of task_implementation',
    ],
    ['BULLMQ_PREFIX', 'a:b', 'BULLMQ_PREFIX="a:b" is not allowed: expected letters, digits, dot, dash or underscore (no colon)'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL="loud" is not allowed: expected one of fatal, error, warn, info, debug, trace, silent'],
  ])('names the variable, the value and what is allowed when %s is bad', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      expect((error as Error).message.split('\n')).toHaveLength(1);
      expect((error as Error).message).toContain(message);
    }
  });

  it('never prints a secret it refuses', () => {
    const attempt = () => loadConfig({ REDIS_URL: 'http://user:hunter2@example.test', ADMIN_TOKEN: 'short-secret' });
    expect(attempt).toThrow(/REDIS_URL="\*\*\*" is not allowed: expected a URL starting with redis:\/\/ or rediss:\/\//);
    expect(attempt).toThrow(/ADMIN_TOKEN="\*\*\*" is not allowed: expected at least 16 characters/);
    expect(attempt).not.toThrow(/hunter2|short-secret/);
  });

  it('parses job kinds in either spelling', () => {
    expect(loadConfig({ WORKER_KINDS: 'idea_grill, PLAN_CHAT' }).WORKER_KINDS).toEqual(['IDEA_GRILL', 'PLAN_CHAT']);
  });

  it('needs a command for the command agent and a key for the anthropic agent', () => {
    expect(() => loadConfig({ AGENT: 'command' })).toThrow('AGENT_COMMAND=(unset) is not allowed');
    expect(() => loadConfig({ AGENT: 'anthropic' })).toThrow('ANTHROPIC_API_KEY=(unset) is not allowed');
    expect(loadConfig({ AGENT: 'command', AGENT_COMMAND: 'claude -p' }).AGENT_COMMAND).toBe('claude -p');
  });
});
