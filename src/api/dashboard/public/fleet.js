// The fleet page: workers and job counts polled from the API, and the live feed of status
// changes from the event stream. The browser sends the Basic auth login it used for this page.
// The stream opens with the most recent changes (?replay=), so a reload does not empty the feed;
// EventSource's own reconnects send Last-Event-ID, which the server prefers, so none repeat.
// Job notices (an agent's progress, its questions) come on the same stream but are not replayed:
// the questions and running jobs are read from the API again whenever the stream (re)connects.
// Providers (whose limits the agents run under) are read from the API, and again on each of their
// pause and resume events; admins get a button to resume a paused one. Owners' running and queued
// jobs with their caps, and the schedules, come from fleet-shares.js; the plots over time from
// fleet-plots.js; the feed's filters (kind, status, owner) from fleet-feed-filters.js. Every job
// the page names links to its page (/jobs/<id>), every sprint run to /sprint-runs/<id>.
import { setUpFilters, filterQuery } from './fleet-feed-filters.js';
import { startPlots } from './fleet-plots.js';
import { refreshOwners, refreshSchedules } from './fleet-shares.js';
import { $, cell, jobLink, link, nodesCell, sprintRunHref } from './fleet-dom.js';
import { answerForm } from './questions.js';

const STATUSES = ['queued', 'claimed', 'running', 'done', 'failed', 'cancelled', 'skipped'];
const FEED_LENGTH = 200;
const REPLAYED = 50;

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function refreshWorkers() {
  const { items } = await getJson('/api/v1/workers');
  const body = $('#workers tbody');
  body.replaceChildren(
    ...items.map((worker) => {
      const row = document.createElement('tr');
      row.dataset.workerId = worker.id;
      row.append(
        cell(worker.host),
        // A pull-mode session (an agent working the queue over MCP) has no process of ours.
        cell(worker.mode === 'pull' ? 'pull' : String(worker.pid), 'number'),
        cell(worker.kinds.join(', ')),
        cell(String(worker.concurrency), 'number'),
        nodesCell(
          worker.current_jobs.length
            ? worker.current_jobs.flatMap((job, at) => [at ? `, ${job.kind} ` : `${job.kind} `, jobLink(job.id)])
            : ['—'],
        ),
        cell(new Date(worker.last_heartbeat_at).toLocaleTimeString()),
        cell(worker.alive ? 'alive' : worker.stopped_at ? 'stopped' : 'gone', worker.alive ? 'state-alive' : 'state-gone'),
      );
      return row;
    }),
  );
  $('#workers-alive').textContent = `${items.filter((worker) => worker.alive).length} alive`;
}

async function refreshJobs() {
  const { jobs } = await getJson('/api/v1/stats');
  const body = $('#jobs tbody');
  body.replaceChildren(
    ...Object.keys(jobs)
      .sort()
      .map((kind) => {
        const row = document.createElement('tr');
        row.dataset.kind = kind;
        row.append(cell(kind), ...STATUSES.map((status) => cell(String(jobs[kind][status] ?? 0), 'number')));
        return row;
      }),
  );
}

// Providers: a paused one holds every kind it serves, fleet-wide, until its time has passed or,
// for a spend limit, until an admin resumes it.
const PROVIDER_REASONS = { rate_limit: 'rate limit', overloaded: 'overloaded', spend_limit: 'spend limit' };
const isAdminPage = () => document.body.dataset.admin === 'true';
const timeText = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function whyText(provider) {
  if (!provider.reason) return '—';
  const reason = PROVIDER_REASONS[provider.reason] ?? provider.reason;
  return provider.message ? `${reason}: ${provider.message}` : reason;
}

function resumeButton(provider) {
  const wrap = document.createElement('span');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'resume';
  button.textContent = 'Resume';
  const outcome = document.createElement('span');
  outcome.className = 'outcome';
  outcome.setAttribute('role', 'status');
  button.addEventListener('click', async () => {
    button.disabled = true;
    outcome.textContent = 'resuming…';
    try {
      const response = await fetch(`/api/v1/providers/${encodeURIComponent(provider.name)}/resume`, {
        method: 'POST',
        headers: { accept: 'application/json' },
      });
      const body = await response.json().catch(() => null);
      if (response.ok) return showProvider(body);
      outcome.textContent = body?.error?.message ?? `refused (${response.status})`;
    } catch {
      outcome.textContent = 'could not reach the server; try again';
    }
    button.disabled = false;
  });
  wrap.append(button, outcome);
  return wrap;
}

function providerRow(provider) {
  const row = document.createElement('tr');
  row.dataset.provider = provider.name;
  row.dataset.status = provider.status;
  if (provider.status === 'paused') row.className = `paused reason-${provider.reason}`;
  const paused = provider.status === 'paused';
  const until = paused ? (provider.until ? timeText(provider.until) : 'until an admin resumes it') : '—';
  const action = document.createElement('td');
  if (paused && isAdminPage()) action.append(resumeButton(provider));
  row.append(
    cell(provider.name),
    cell(paused ? 'PAUSED' : 'active', paused ? 'state-paused' : 'state-alive'),
    // `since` is when the current (or, for an active provider, the last) pause began.
    cell(paused ? timeText(provider.since) : '—'),
    cell(until, 'until'),
    cell(paused ? whyText(provider) : provider.reason ? `last paused: ${whyText(provider)}` : '—', 'why'),
    cell(provider.kinds.join(', ')),
    action,
  );
  return row;
}

const providers = new Map();

function providersChanged() {
  const rows = [...providers.values()].sort((a, b) => a.name.localeCompare(b.name));
  $('#providers tbody').replaceChildren(...rows.map(providerRow));
  const paused = rows.filter((provider) => provider.status === 'paused').length;
  $('#providers-paused').textContent = paused ? `${paused} paused` : '';
  $('#providers-note').hidden = rows.length > 0;
}

function showProvider(provider) {
  providers.set(provider.name, provider);
  providersChanged();
}

async function refreshProviders() {
  const { providers: items } = await getJson('/api/v1/providers');
  providers.clear();
  for (const provider of items) providers.set(provider.name, provider);
  providersChanged();
}

// Implementation jobs with what they pushed: the job's branch, or where a failed job's work was
// salvaged (SPEC "Workspaces"), and the product's check.
const WORK_KINDS = 'task_implementation,sprint_implementation';
const WORK_ROWS = 20;

function branchOf(job) {
  const result = job.result ?? {};
  const salvage = result.salvage ?? job.error?.details?.salvage ?? null;
  if (result.workspace) return { record: result.workspace, label: result.workspace.pushed ? result.workspace.branch : 'nothing changed' };
  if (salvage) return { record: salvage, label: `${salvage.branch} (salvaged)` };
  return null;
}

function checkOf(job) {
  const verify = job.result?.verify;
  if (!verify) return '—';
  const verdict = verify.passed ? 'passed' : verify.timed_out ? 'timed out' : `failed (exit ${verify.exit_code})`;
  return `${verdict}, attempt ${verify.attempt}/${verify.max_attempts}`;
}

async function refreshWork() {
  const { items } = await getJson(`/api/v1/jobs?kind=${WORK_KINDS}&limit=${WORK_ROWS}`);
  const body = $('#work tbody');
  body.replaceChildren(
    ...items.map((job) => {
      const row = document.createElement('tr');
      row.dataset.jobId = job.id;
      const branch = branchOf(job);
      row.append(
        nodesCell(job.sprint_run_id ? [jobLink(job.id), ' · run ', runLink(job.sprint_run_id)] : [jobLink(job.id)]),
        cell(job.kind),
        cell(job.status),
        cell(branch ? branch.label : (job.error?.code ?? '—'), 'branch'),
        cell(branch ? String(branch.record.changed_files.length) : '—', 'number'),
        cell(branch ? `+${branch.record.insertions} −${branch.record.deletions}` : '—', 'number'),
        cell(checkOf(job)),
      );
      return row;
    }),
  );
}

// Jobs a worker holds, with what their agent last reported (report_progress).
const RUNNING_STATUSES = 'claimed,running';
const RUNNING_ROWS = 50;

function progressText(progress) {
  if (!progress) return '—';
  return progress.percent === null || progress.percent === undefined ? progress.message : `${progress.percent}% ${progress.message}`;
}

// The last progress heard live, by job: a read of the running jobs that left before a report came
// and answers after it must not put the older progress back.
const heardProgress = new Map();

function newerProgress(job) {
  const heard = heardProgress.get(job.id);
  if (!heard) return job.progress;
  if (job.progress && new Date(job.progress.at) >= new Date(heard.at)) return job.progress;
  return heard.progress;
}

async function refreshRunning() {
  const { items } = await getJson(`/api/v1/jobs?status=${RUNNING_STATUSES}&limit=${RUNNING_ROWS}`);
  const shown = new Set(items.map((job) => job.id));
  for (const id of heardProgress.keys()) if (!shown.has(id)) heardProgress.delete(id);
  $('#running tbody').replaceChildren(
    ...items.map((job) => {
      const row = document.createElement('tr');
      row.dataset.jobId = job.id;
      row.append(
        nodesCell([jobLink(job.id)]),
        cell(job.kind),
        cell(job.status),
        cell(job.started_at ? new Date(job.started_at).toLocaleTimeString() : '—'),
        cell(progressText(newerProgress(job)), 'progress'),
      );
      return row;
    }),
  );
}

function showProgress(event) {
  heardProgress.set(event.entity_id, { progress: event.progress, at: event.at });
  const progress = $(`#running tr[data-job-id="${event.entity_id}"] td.progress`);
  if (progress) progress.textContent = progressText(event.progress);
  else scheduleJobsRefresh();
}

// Questions agents asked through ask_user, oldest first, each with a form that answers it.
const QUESTION_ROWS = 200;
const questions = new Map();

function questionsChanged() {
  $('#questions-open').textContent = questions.size ? `${questions.size} open` : '';
  $('#questions-note').hidden = questions.size > 0;
}

function questionItem(question, kind) {
  const item = document.createElement('li');
  item.className = 'question';
  item.dataset.questionId = question.id;
  item.dataset.jobId = question.job_id;
  const about = document.createElement('div');
  about.className = 'about';
  about.append(`${kind ?? 'job'} `, jobLink(question.job_id), ` · asked ${new Date(question.created_at).toLocaleTimeString()}`);
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = question.question;
  item.append(about, text, answerForm(question, { onAnswered: () => dropQuestion(question.id) }));
  return item;
}

function showQuestion(question, kind) {
  if (question.status !== 'open') return dropQuestion(question.id);
  if (questions.has(question.id)) return;
  const item = questionItem(question, kind);
  questions.set(question.id, item);
  $('#questions').append(item);
  questionsChanged();
}

/** How long a question this page just answered stays, with the answer's outcome, after it left the open list. */
const OUTCOME_SHOWN_MS = 15_000;

function justAnswered(id) {
  const sentAt = Number(questions.get(id)?.querySelector('form')?.dataset.sentAt ?? 0);
  return Date.now() - sentAt < OUTCOME_SHOWN_MS;
}

function dropQuestion(id) {
  questions.get(id)?.remove();
  questions.delete(id);
  questionsChanged();
}

async function refreshQuestions() {
  // A question a notice showed while this request ran is newer than its answer: it stays.
  const shown = new Set(questions.keys());
  const response = await fetch(`/api/v1/questions?status=open&limit=${QUESTION_ROWS}`, { headers: { accept: 'application/json' } });
  if (response.status === 403) {
    $('#questions-note').textContent = 'Answering questions needs a login with the read scope.';
    return;
  }
  if (!response.ok) throw new Error(`questions: ${response.status}`);
  const { items } = await response.json();
  const open = new Set(items.map((question) => question.id));
  for (const id of shown) if (!open.has(id) && !justAnswered(id)) dropQuestion(id);
  // The API lists newest first; the one waiting longest goes on top. Forms being filled in stay.
  for (const question of items.reverse()) showQuestion(question, question.job_kind);
}

function describeNotice(event) {
  if (event.type === 'progress') return `progress: ${progressText(event.progress)}`;
  if (event.type === 'budget_exceeded')
    return `stopped at its budget: ${event.budget.ceiling} ${event.budget.used} of ${event.budget.limit}`;
  const question = event.question;
  if (event.type === 'question_asked') return `asks: ${question.question}`;
  if (event.type === 'question_answered') return `answered: ${question.question} → ${question.answer}`;
  return `question closed${question.closed_reason ? ` (${question.closed_reason})` : ''}: ${question.question}`;
}

function describeProvider(event) {
  const provider = event.provider ?? { name: event.entity_id.slice(0, 8), reason: null, until: null };
  if (event.type !== 'provider_paused') return `provider ${provider.name}  ${event.from ?? '∅'} → ${event.to}  [${event.trigger}]`;
  const until = provider.until ? `until ${new Date(provider.until).toLocaleTimeString()}` : 'until an admin resumes it';
  return `provider ${provider.name}  PAUSED (${whyText(provider)}) ${until}`;
}

const runLink = (id) => link(sprintRunHref(id), id.slice(0, 8), 'run-link');

// The entity's short id, linked where it has a page: a job's own, a sprint run's, and a step's
// (its sprint run's page shows it).
function entityNode(event) {
  if (event.entity === 'job') return jobLink(event.entity_id);
  if (event.entity === 'sprint_run') return runLink(event.entity_id);
  if (event.step) return link(sprintRunHref(event.step.sprint_run_id), event.entity_id.slice(0, 8), 'run-link');
  return event.entity_id.slice(0, 8);
}

/** An event as the feed shows it: text with its entity's id linked. */
function describe(event) {
  const at = new Date(event.at).toLocaleTimeString();
  if (event.entity === 'provider') return [`${at}  ${describeProvider(event)}`];
  const subject = event.job ? `${event.job.kind} job` : event.step ? `step ${event.step.position} (${event.step.name})` : event.entity;
  const what = event.id === null ? describeNotice(event) : `${event.from ?? '∅'} → ${event.to}  [${event.trigger}]`;
  return [`${at}  ${subject} `, entityNode(event), `  ${what}`];
}

const NOTICES = ['progress', 'question_asked', 'question_answered', 'question_closed', 'budget_exceeded'];
const QUESTION_NOTICES = ['question_asked', 'question_answered', 'question_closed'];
const STATUS_EVENTS = [
  'started',
  'completed',
  'failed',
  'step_started',
  'step_completed',
  'provider_paused',
  'provider_resumed',
  'transition',
];

// The stream the feed shows; a change of filters closes it and opens another, which replays the
// recent events that pass them, so the feed keeps its past under the new filters too.
let source = null;
const FILTER_NAMES = { kind: 'kind', status: 'status', owner_id: 'owner' };

function listen(filters) {
  source?.close();
  source = new EventSource(`/api/v1/events?replay=${REPLAYED}${filterQuery(filters)}`);
  const feed = $('#feed');
  feed.replaceChildren();
  const filtered = Object.keys(filters).length > 0;
  $('#feed-shown').textContent = filtered
    ? `only ${Object.entries(filters)
        .map(([name, value]) => `${FILTER_NAMES[name]} ${value}`)
        .join(', ')}`
    : '';
  feed.dataset.filters = new URLSearchParams(filters).toString();
  const connection = $('#connection');
  connection.dataset.state = 'connecting';
  connection.textContent = 'connecting…';
  const onEvent = (message) => {
    const event = JSON.parse(message.data);
    const notice = NOTICES.includes(event.type);
    const item = document.createElement('li');
    item.className = `type-${event.type}`;
    item.dataset.entityId = event.entity_id;
    // A notice changed no status: it is marked by its type, so a status lookup never finds it.
    if (notice) item.dataset.notice = event.type;
    else item.dataset.to = event.to;
    item.append(...describe(event));
    feed.prepend(item);
    while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
    if (event.type === 'progress') showProgress(event);
    else if (QUESTION_NOTICES.includes(event.type)) showQuestion(event.question, event.job?.kind);
    else if (event.entity === 'provider') refreshProviders().catch(() => {});
    else if (event.entity === 'job') scheduleJobsRefresh();
  };
  for (const type of [...STATUS_EVENTS, ...NOTICES]) source.addEventListener(type, onEvent);
  // Away so long that the replay skipped events (it reads a bounded stretch of history): the feed
  // says where the gap is, and the figures it would have moved are read from the API again.
  source.addEventListener('replay_truncated', (message) => {
    const notice = JSON.parse(message.data);
    const item = document.createElement('li');
    item.className = 'type-replay_truncated';
    item.dataset.notice = 'replay_truncated';
    item.textContent = `${new Date().toLocaleTimeString()}  events after ${notice.after} up to ${notice.resumes_after} were skipped (the stream was away too long); figures reread`;
    feed.prepend(item);
    scheduleJobsRefresh();
  });
  const opened = source;
  source.addEventListener('connected', () => {
    if (opened !== source) return;
    connection.dataset.state = 'live';
    connection.textContent = 'live';
    // Notices missed while the stream was away are not replayed: read what they changed again.
    refreshQuestions().catch(() => {});
    refreshRunning().catch(() => {});
    refreshProviders().catch(() => {});
    refreshOwners().catch(() => {});
  });
  source.onerror = () => {
    if (opened !== source) return;
    connection.dataset.state = 'lost';
    connection.textContent = 'reconnecting…';
  };
}

let pending = null;
function scheduleJobsRefresh() {
  if (pending !== null) return;
  pending = setTimeout(() => {
    pending = null;
    refreshJobs().catch(() => {});
    refreshWork().catch(() => {});
    refreshRunning().catch(() => {});
    refreshOwners().catch(() => {});
  }, 500);
}

listen(setUpFilters(listen));
startPlots();
refreshWorkers().catch(() => {});
refreshJobs().catch(() => {});
refreshWork().catch(() => {});
refreshRunning().catch(() => {});
refreshQuestions().catch(() => {});
refreshProviders().catch(() => {});
refreshOwners().catch(() => {});
refreshSchedules().catch(() => {});
setInterval(() => refreshWorkers().catch(() => {}), 5000);
setInterval(() => refreshJobs().catch(() => {}), 10000);
setInterval(() => refreshQuestions().catch(() => {}), 10000);
// A pause lengthened while in force is no status change: read the providers now and then too.
setInterval(() => refreshProviders().catch(() => {}), 10000);
// A firing, a cap changed by an admin: neither is an event the page hears, so both are polled.
setInterval(() => refreshOwners().catch(() => {}), 10000);
setInterval(() => refreshSchedules().catch(() => {}), 10000);
// A filtered feed hears only some jobs' changes and progress: the running jobs are read now and then too.
setInterval(() => refreshRunning().catch(() => {}), 10000);
