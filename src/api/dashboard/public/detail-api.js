// What the job and sprint-run pages share: reading the API with the page's login (answers kept
// whole, so a refusal's message can be shown as the API gave it), times and durations in words,
// and small builders. Every value from the API goes into the page as text (textContent), never
// as markup: an idea's title or a reason may hold anything.

/** The id in the page's path (/jobs/<id>, /sprint-runs/<id>); the server only serves UUIDs there. */
export function pathId() {
  return decodeURIComponent(location.pathname.split('/')[2] ?? '');
}

/** { ok, status, body }: body is the parsed JSON, or null. */
export async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

/** The API's own words for a refusal (its error message), or the status. */
export function refusal(answer) {
  return answer.body?.error?.message ?? `the API answered ${answer.status}`;
}

export const timeText = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

/** 1.2 s, 3 min 4 s, 2 h 5 min: precise enough to compare steps. */
export function durationText(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function between(fromIso, toIso) {
  if (!fromIso || !toIso) return null;
  return new Date(toIso).getTime() - new Date(fromIso).getTime();
}

/** An element with text, and optional class and dataset. */
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function link(href, text) {
  const a = el('a', text);
  a.href = href;
  return a;
}

/** Fills a <dl> with label/value pairs; a value may be a string or a node. */
export function fillFacts(dl, facts) {
  dl.replaceChildren(
    ...facts.flatMap(([label, value, key]) => {
      const dt = el('dt', label);
      const dd = el('dd');
      if (key) dd.dataset.fact = key;
      if (value instanceof Node) dd.append(value);
      else dd.textContent = value === null || value === undefined || value === '' ? '—' : String(value);
      return [dt, dd];
    }),
  );
}

/** A status as a badge whose colour comes from its class (detail.css). */
export function statusBadge(status) {
  const badge = el('span', status, `status status-${status}`);
  badge.dataset.status = status;
  return badge;
}

/** Shows the page's problem (a refusal, a lost connection) in its banner. */
export function showProblem(text) {
  const problem = document.getElementById('problem');
  problem.textContent = text;
  problem.hidden = !text;
}

/**
 * A section's own problem (its read was refused, or the API did not answer): said where the
 * section is, so a stale or empty section never passes for a current one. '' clears it.
 */
export function showSectionProblem(id, text) {
  const problem = document.getElementById(id);
  problem.textContent = text;
  problem.hidden = !text;
}

/** { ok, status, body } as getJson gives it, or a failed one when the API did not answer at all. */
export async function tryJson(path) {
  return getJson(path).catch(() => ({ ok: false, status: 0, body: null }));
}

/** Why a section's read failed, in words: the API's refusal, or that it did not answer. */
export const readProblem = (what, answer) =>
  `${what} could not be read: ${answer.status === 0 ? 'the API did not answer' : refusal(answer)}; trying again`;

/** The connection indicator: live, or reconnecting (EventSource reconnects by itself). */
export function watchConnection(source, onConnected) {
  const connection = document.getElementById('connection');
  // A replay cut short (replay_truncated: the page was away too long) skipped events; the page
  // rereads everything at `connected`, which follows the replay, so it only says so.
  source.addEventListener('replay_truncated', () => {
    connection.title = 'some events were skipped while the page was away; it was read again on reconnecting';
  });
  source.addEventListener('connected', () => {
    connection.dataset.state = 'live';
    connection.textContent = 'live';
    onConnected();
  });
  source.onerror = () => {
    connection.dataset.state = 'lost';
    connection.textContent = 'reconnecting…';
  };
}

/**
 * Runs `work` now, or once more after the run in flight when asked meanwhile: reads that append
 * (the log) must not overlap, and a burst of events needs one read, not one each.
 */
export function serialized(work) {
  let running = null;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await work();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return run;
}
