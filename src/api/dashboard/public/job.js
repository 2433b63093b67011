// The page of one job: what it is and whose, its status history as a timeline, its log as it is
// written, its usage, its outcome, its workspace and check, its progress and its questions (open
// ones with the fleet page's answer form). Live through the event stream narrowed to this job:
// each status change or notice re-reads what it changed, and the log is read on from where it
// stopped. A (re)connect re-reads everything, since notices missed meanwhile are not replayed.
import {
  between,
  durationText,
  el,
  fillFacts,
  getJson,
  link,
  pathId,
  readProblem,
  refusal,
  serialized,
  showProblem,
  showSectionProblem,
  statusBadge,
  timeText,
  tryJson,
  watchConnection,
} from './detail-api.js';
import { $ } from './fleet-dom.js';
import { showOutcome, showProgress, showUsage, showWorkspace } from './job-sections.js';
import { answerForm } from './questions.js';
import { renderTimeline } from './timeline.js';

const id = pathId();
const ENDED = ['done', 'failed', 'cancelled', 'skipped'];
let job = null;

async function refreshJob() {
  const answer = await getJson(`/api/v1/jobs/${id}`);
  if (!answer.ok) {
    // Another owner's job, or none: the API's own 404 message, and nothing else of it.
    showProblem(refusal(answer));
    document.body.dataset.missing = 'true';
    return false;
  }
  job = answer.body;
  showProblem('');
  showJob(job);
  return true;
}

function showJob(job) {
  document.title = `${job.kind} ${job.id.slice(0, 8)} · jobfleet`;
  $('#job-kind').textContent = job.kind;
  $('#job-status').replaceChildren(statusBadge(job.status));
  $('#job-id').textContent = job.id;
  document.body.dataset.status = job.status;
  fillFacts($('#facts'), [
    ['subject', subjectOf(job), 'subject'],
    ['owner', job.owner_id, 'owner'],
    ['product', productOf(job), 'product'],
    ['attempts', `${job.attempt_count} claimed, ${job.requeue_count} requeued (claim epoch ${job.claim_epoch})`, 'attempts'],
    ['created', timeText(job.created_at), 'created'],
    ['started', timeText(job.started_at), 'started'],
    ['finished', timeText(job.finished_at), 'finished'],
    ['waited', durationText(between(job.created_at, job.started_at)), 'waited'],
    ['ran', durationText(between(job.started_at, job.finished_at)), 'ran'],
    ['retry of', job.retry_of_job_id ? link(`/jobs/${job.retry_of_job_id}`, job.retry_of_job_id) : null, 'retry-of'],
  ]);
  showUsage(job);
  showProgress(job.progress);
  showOutcome(job);
  showWorkspace(job);
}

// The subject's name when this login may read it (a worker token may not read the backlog).
const titles = new Map();
function subjectOf(job) {
  const wrap = el('span');
  const part = (label, subjectId, path, href) => {
    const item = el('span', null, 'subject');
    item.dataset.subject = label;
    const name = titles.get(subjectId);
    const text = `${label} ${name ? `“${name}”` : subjectId.slice(0, 8)}`;
    item.append(href ? link(href, text) : el('span', text));
    if (name === undefined) {
      titles.set(subjectId, null);
      getJson(path)
        .then((answer) => {
          if (!answer.ok) return;
          titles.set(subjectId, answer.body.title ?? answer.body.name ?? null);
          if (job) showJob(job);
        })
        .catch(() => {});
    }
    wrap.append(item, ' ');
  };
  if (job.idea_id) part('idea', job.idea_id, `/api/v1/ideas/${job.idea_id}`);
  if (job.task_id) part('task', job.task_id, `/api/v1/tasks/${job.task_id}`);
  if (job.sprint_run_id)
    part('sprint run', job.sprint_run_id, `/api/v1/sprint-runs/${job.sprint_run_id}`, `/sprint-runs/${job.sprint_run_id}`);
  return wrap;
}

const products = new Map();
function productOf(job) {
  const name = products.get(job.product_id);
  if (name === undefined) {
    products.set(job.product_id, null);
    getJson(`/api/v1/products/${job.product_id}`)
      .then((answer) => {
        if (!answer.ok) return;
        products.set(job.product_id, answer.body.name);
        showJob(job);
      })
      .catch(() => {});
  }
  return name ? `${name} (${job.product_id.slice(0, 8)})` : job.product_id;
}

// A section whose last read failed is read again on the next tick, also once the job has ended.
let historyBehind = false;
async function refreshHistory() {
  const answer = await tryJson(`/api/v1/jobs/${id}/history`);
  historyBehind = !answer.ok;
  showSectionProblem('timeline-problem', answer.ok ? '' : readProblem('the timeline', answer));
  if (!answer.ok) return;
  renderTimeline($('#timeline'), answer.body.items, { finished: job !== null && ENDED.includes(job.status) });
}

// The log, read on from where the last read stopped: only new lines are appended.
const LOG_LINES_SHOWN = 5000;
let after = null;
let read = 0;
let logBehind = false;
const readLog = serialized(async () => {
  for (;;) {
    const answer = await tryJson(`/api/v1/jobs/${id}/logs${after ? `?after=${encodeURIComponent(after)}` : ''}`);
    // Redis away: the idea's rows come, the worker's lines follow once it is back (from `after`).
    logBehind = !answer.ok || answer.body.worker_unavailable;
    showSectionProblem(
      'log-problem',
      !answer.ok
        ? readProblem('the log', answer)
        : answer.body.worker_unavailable
          ? "the worker's lines are unavailable (Redis did not answer); they follow once it is back"
          : '',
    );
    if (!answer.ok) return;
    const log = $('#log');
    for (const line of answer.body.items) {
      const item = el('li', null, `line source-${line.source}`);
      item.dataset.source = line.source;
      if (line.type) item.dataset.type = line.type;
      const label = line.source === 'worker' ? (line.delivery ? `worker (delivery ${line.delivery + 1})` : 'worker') : line.type;
      item.append(
        el('span', line.at ? new Date(line.at).toLocaleTimeString() : '', 'at'),
        el('span', label, 'label'),
        el('span', line.text, 'text'),
      );
      log.append(item);
    }
    // A long run's log keeps its latest lines on the page; the API has them all.
    while (log.children.length > LOG_LINES_SHOWN) log.firstElementChild.remove();
    after = answer.body.next_after;
    $('#log-note').hidden = log.children.length > 0;
    read += answer.body.items.length;
    $('#log-count').textContent = read ? `${read} lines` : '';
    if (!answer.body.more) return;
  }
});

async function refreshQuestions() {
  const answer = await getJson(`/api/v1/jobs/${id}/questions`);
  if (!answer.ok) return;
  const items = answer.body.items;
  // A form being filled in is kept as it is: only questions that changed are drawn again.
  const list = $('#questions');
  const shown = new Map([...list.children].map((item) => [item.dataset.questionId, item]));
  const open = items.filter((question) => question.status === 'open').length;
  $('#questions-section').hidden = items.length === 0;
  $('#questions-open').textContent = open ? `${open} open` : '';
  list.replaceChildren(
    ...items.map((question) => {
      const old = shown.get(question.id);
      if (old && old.dataset.status === question.status) return old;
      return questionItem(question);
    }),
  );
}

function questionItem(question) {
  const item = el('li', null, 'question');
  item.dataset.questionId = question.id;
  item.dataset.status = question.status;
  item.append(el('div', `asked ${timeText(question.created_at)} · ${question.status}`, 'about'), el('p', question.question, 'text'));
  if (question.status === 'open') {
    item.append(answerForm(question, { onAnswered: () => refreshQuestions() }));
    return item;
  }
  if (question.options) item.append(el('p', `options: ${question.options.join(' · ')}`, 'options'));
  if (question.answer !== null) item.append(el('p', `answer: ${question.answer}`, 'answer'));
  else item.append(el('p', `closed${question.closed_reason ? `: ${question.closed_reason}` : ''}`, 'answer'));
  return item;
}

const refreshAll = serialized(async () => {
  if (!(await refreshJob())) return;
  await Promise.all([refreshHistory(), readLog(), refreshQuestions()]);
});

const STATUS_EVENTS = ['started', 'completed', 'failed', 'transition'];
const QUESTION_NOTICES = ['question_asked', 'question_answered', 'question_closed'];

function listen() {
  const source = new EventSource(`/api/v1/events?job_id=${encodeURIComponent(id)}`);
  watchConnection(source, () => refreshAll().catch(() => {}));
  for (const type of STATUS_EVENTS) source.addEventListener(type, () => refreshAll().catch(() => {}));
  source.addEventListener('progress', (message) => {
    showProgress({ ...JSON.parse(message.data).progress });
    // report_progress also writes a log line: read it.
    readLog().catch(() => {});
  });
  for (const type of QUESTION_NOTICES) source.addEventListener(type, () => refreshQuestions().catch(() => {}));
  source.addEventListener('budget_exceeded', () => refreshAll().catch(() => {}));
}

refreshAll()
  .then(() => {
    // Nothing to follow for a job this login cannot see.
    if (document.body.dataset.missing !== 'true') listen();
  })
  .catch(() => showProblem('could not reach the API; reload to try again'));
// The last status's "so far" and a log line no event announced (a worker's line): now and then.
setInterval(() => {
  const running = job && !ENDED.includes(job.status);
  if (running || historyBehind) refreshHistory().catch(() => {});
  if (running || logBehind) readLog().catch(() => {});
}, 5000);
