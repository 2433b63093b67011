/**
 * The three fields that point a product at a git repository, checked the same way by the API and
 * the CLI. Each value ends up on a git or shell command line in a worker (`git fetch <url>`,
 * `git worktree add -B <branch>`, `/bin/sh -c <check>`), so each rule below names what it keeps
 * off that command line. A `...Problem` function answers what is wrong (null: nothing), saying
 * what is allowed; the zod schemas wrap them for the routes and the OpenAPI document.
 */
import { z } from '@hono/zod-openapi';

export const MAX_REPOSITORY_URL = 2000;
export const MAX_BRANCH_NAME = 200;
export const MAX_CHECK_COMMAND = 2000;

export const URL_SCHEMES = ['https', 'http', 'ssh', 'git', 'file'] as const;

const ALLOWED_URLS =
  'allowed: an absolute path (/srv/git/app.git), a URL with scheme https, http, ssh, git or file (https://github.com/o/r.git), or user@host:path (git@github.com:o/r.git)';

// Whitespace would split the value wherever it is written into a shell line or a config file,
// control characters (Cc) can rewrite a terminal or a log line, and invisible format characters
// (Cf: zero-width spaces, bidi overrides) make a URL read as another one.
const UNSEEN = /[\s\p{Cc}\p{Cf}]/u;
// git's scp-like syntax; no '/' before the ':' (git reads that as a local path).
const SCP_LIKE = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):[^\s]+$/;
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** What is wrong with a repository URL or path, or null when git may be given it. */
export function repositoryUrlProblem(url: string): string | null {
  const refuse = (reason: string) => `${reason}; ${ALLOWED_URLS}`;
  if (url.length === 0) return refuse('must not be empty (null means no repository)');
  if (url.length > MAX_REPOSITORY_URL) return `at most ${MAX_REPOSITORY_URL} characters`;
  if (UNSEEN.test(url)) return refuse('must not contain whitespace or control characters');
  // git (and ssh behind it) would read a leading '-' as one of its own options (`-uhack`).
  if (url.startsWith('-')) return refuse('must not start with "-" (git would read it as an option)');
  // `<transport>::<address>` makes git run a remote helper: `ext::sh -c ...` runs any command,
  // `fd::` talks to file descriptors. Refused anywhere in the value, which is simpler to state.
  if (url.includes('::')) return refuse('must not contain "::" (git reads transport::address as a remote helper; ext:: runs commands)');
  if (url.startsWith('/')) return null;
  const scp = SCP_LIKE.exec(url);
  if (scp) return scp[1]?.startsWith('-') ? refuse('the host must not start with "-" (ssh would read it as an option)') : null;
  if (!HAS_SCHEME.test(url)) return refuse('a relative path is not allowed (workers run in directories of their own)');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('is not a valid URL');
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (!(URL_SCHEMES as readonly string[]).includes(scheme)) return refuse(`scheme "${scheme}" is not allowed`);
  if (scheme !== 'file' && parsed.hostname === '') return refuse(`a URL with scheme ${scheme} needs a host`);
  // A product is read by everyone of its owner and its URL is quoted in job errors and logs: a
  // secret there would leak. Workers get credentials the way any git client does.
  // A token alone goes in the user part (`https://<token>@host/...`): refused for every scheme
  // but ssh and file, where the user is a login name, not a secret.
  if (parsed.password || (parsed.username && scheme !== 'ssh' && scheme !== 'file')) {
    return refuse(
      "must not carry a password or token (it would be shown with the product and in job errors; give the workers' git a credential helper or an ssh key)",
    );
  }
  // Like a leading '-' on the whole value: ssh takes `[user@]host` as one argument ('%2d' is '-').
  if ([parsed.hostname, parsed.username].some((part) => /^(-|%2d)/i.test(part))) {
    return refuse('the user and host must not start with "-" (ssh would read them as options)');
  }
  return null;
}

const BRANCH_RULES =
  'allowed: letters, digits and . _ / - (no "..", "//", no "/" or "." at either end or after a "/", no leading "-", not ending ".lock", not HEAD)';

/**
 * What is wrong with a branch name, or null. The rules are git's own (`git check-ref-format`)
 * for the characters kept here, so a name passed here is never refused by git later, in a worker
 * where the job would fail; no '@' at all rules out git's `@{` reflog syntax; a leading '-' would
 * be read as an option of `git worktree add` or `git push`.
 */
export function branchNameProblem(name: string): string | null {
  const refuse = (reason: string) => `${reason}; ${BRANCH_RULES}`;
  if (name.length === 0) return refuse('must not be empty');
  if (name.length > MAX_BRANCH_NAME) return `at most ${MAX_BRANCH_NAME} characters`;
  if (!/^[A-Za-z0-9._/-]+$/.test(name)) return refuse('may contain only letters, digits and . _ / -');
  if (name.startsWith('-')) return refuse('must not start with "-" (git would read it as an option)');
  if (name === 'HEAD') return refuse('must not be HEAD (git names the checked-out commit so)');
  if (name.includes('..')) return refuse('must not contain ".."');
  if (name.includes('//')) return refuse('must not contain "//"');
  if (/^[/.]|[/.]$/.test(name)) return refuse('must not start or end with "/" or "."');
  // git refuses a part between slashes that starts with '.' or ends with '.lock' (its lock files).
  if (name.includes('/.')) return refuse('no part between slashes may start with "."');
  if (/\.lock(\/|$)/.test(name)) return refuse('must not end with ".lock", nor any part between slashes');
  return null;
}

/**
 * What is wrong with a check command, or null. It is one line for `/bin/sh -c`: a newline would
 * hide a second command after the one a reader sees, and Postgres cannot store a NUL. Judged
 * before trimming (a newline anywhere is refused); its length counts after trimming.
 */
export function checkCommandProblem(command: string): string | null {
  if (/[\n\r\0]/.test(command)) return 'must be one command line: no newline, carriage return or NUL (chain commands with && or ;)';
  const trimmed = command.trim();
  if (trimmed.length === 0) return 'must not be empty (null means no check)';
  if (trimmed.length > MAX_CHECK_COMMAND) return `at most ${MAX_CHECK_COMMAND} characters`;
  return null;
}

/** A zod string checked by one of the functions above, failing with its answer. */
function checkedBy(problem: (value: string) => string | null, notAString: string) {
  return z.string({ error: notAString }).check((ctx) => {
    const message = problem(ctx.value);
    if (message !== null) ctx.issues.push({ code: 'custom', message, input: ctx.value });
  });
}

export const RepositoryUrl = checkedBy(repositoryUrlProblem, 'must be a string (a git URL or absolute path) or null').openapi({
  description:
    'The git repository implementation jobs work in: an absolute path, a URL with scheme https, http, ssh, git or file, or user@host:path; ' +
    `at most ${MAX_REPOSITORY_URL} characters, no whitespace, no leading "-", no "::" transports. ` +
    "null: no repository (jobs run in the worker's directory; nothing is committed or pushed).",
  example: 'git@github.com:acme/reports.git',
});

export const DefaultBranch = checkedBy(branchNameProblem, 'must be a string, a git branch name (it cannot be null)').openapi({
  description: `The branch new work starts from (a git branch name, at most ${MAX_BRANCH_NAME} characters).`,
  example: 'main',
});

export const CheckCommand = checkedBy(checkCommandProblem, 'must be a string (one command line) or null')
  .trim()
  .openapi({
    description:
      `Verifies a job's work: one command line (no newlines), run with /bin/sh -c in the job's workspace after the agent; ` +
      `exit 0 passes. Trimmed; 1 to ${MAX_CHECK_COMMAND} characters. null: no check.`,
    example: 'npm ci && npm test',
  });
