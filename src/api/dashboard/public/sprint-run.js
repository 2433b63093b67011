// The page of one sprint run: its status and progress, its timeline, its steps in order (each with
// the job that ran it, linked to the job's page) and every job of the run. Live through the event
// stream narrowed to the run (the run's, its steps' and its jobs' events): each re-reads the page.
import {
  between,
  durationText,
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
import { $, cell } from './fleet-dom.js';
import { renderTimeline } from './timeline.js';

const id = pathId();
const ENDED = ['done', 'failed', 'cancelled'];
let run = null;

// Sections whose last read failed: each says so where it is, and is read again on the next tick.
const behind = new Set();
async function readSection(section, what, path) {
  const answer = await tryJson(path);
  if (answer.ok) behind.delete(section);
  else behind.add(section);
  showSectionProblem(`${section}-problem`, answer.ok ? '' : readProblem(what, answer));
  return answer;
}

async function refreshRun() {
  const answer = await getJson(`/api/v1/sprint-runs/${id}`);
  if (!answer.ok) {
    showProblem(refusal(answer));
    document.body.dataset.missing = 'true';
    return false;
  }
  run = answer.body;
  showProblem('');
  document.title = `sprint run ${run.id.slice(0, 8)} · jobfleet`;
  document.body.dataset.status = run.status;
  $('#run-status').replaceChildren(statusBadge(run.status));
  $('#run-id').textContent = run.id;
  const progress = run.progress;
  fillFacts($('#facts'), [
    ['mode', run.mode, 'mode'],
    ['sprint', run.sprint_id, 'sprint'],
    [
      'steps',
      progress
        ? `${progress.steps_completed} of ${progress.steps_total} completed, ${progress.steps_in_progress} running, ${progress.steps_failed} failed, ${progress.steps_skipped} skipped`
        : null,
      'progress',
    ],
    ['current step', progress?.current_step ? `${progress.current_step.position}. ${progress.current_step.name}` : null, 'current-step'],
    ['created', timeText(run.created_at), 'created'],
    ['started', timeText(run.started_at), 'started'],
    ['finished', timeText(run.finished_at), 'finished'],
    ['ran', durationText(between(run.started_at, run.finished_at)), 'ran'],
    ['error', run.error, 'error'],
  ]);
  const bar = $('#run-progress');
  bar.max = Math.max(1, progress?.steps_total ?? 1);
  bar.value = progress?.steps_completed ?? 0;
  $('#outcome-section').hidden = run.result === null || run.result === undefined;
  $('#outcome').textContent = run.result ? JSON.stringify(run.result, null, 2) : '';
  return true;
}

async function refreshSteps() {
  const answer = await readSection('steps', 'the steps', `/api/v1/sprint-runs/${id}/steps`);
  if (!answer.ok) return;
  const steps = answer.body.items;
  $('#steps-count').textContent = `${steps.length}`;
  $('#steps tbody').replaceChildren(
    ...steps.map((step) => {
      const row = document.createElement('tr');
      row.dataset.stepId = step.id;
      row.dataset.status = step.status;
      const job = document.createElement('td');
      job.className = 'job';
      if (step.job_id) job.append(link(`/jobs/${step.job_id}`, step.job_id.slice(0, 8)));
      else job.textContent = '—';
      const status = document.createElement('td');
      status.append(statusBadge(step.status));
      row.append(
        cell(String(step.position), 'number'),
        cell(step.name),
        status,
        cell(step.agent ?? '—'),
        job,
        cell(timeText(step.started_at)),
        cell(timeText(step.completed_at)),
        cell(durationText(between(step.started_at, step.completed_at)), 'number'),
      );
      return row;
    }),
  );
}

async function refreshJobs() {
  const answer = await readSection('jobs', 'the jobs', `/api/v1/jobs?sprint_run_id=${id}&limit=200`);
  if (!answer.ok) return;
  $('#jobs tbody').replaceChildren(
    ...answer.body.items.map((job) => {
      const row = document.createElement('tr');
      row.dataset.jobId = job.id;
      const name = document.createElement('td');
      name.append(link(`/jobs/${job.id}`, job.id.slice(0, 8)));
      const status = document.createElement('td');
      status.append(statusBadge(job.status));
      row.append(name, cell(job.kind), status, cell(job.usage.cost_usd === null ? '—' : `$${job.usage.cost_usd.toFixed(4)}`, 'number'));
      return row;
    }),
  );
}

async function refreshHistory() {
  const answer = await readSection('timeline', 'the timeline', `/api/v1/sprint-runs/${id}/history`);
  if (!answer.ok) return;
  renderTimeline($('#timeline'), answer.body.items, { finished: run !== null && ENDED.includes(run.status) });
}

const refreshAll = serialized(async () => {
  if (!(await refreshRun())) return;
  await Promise.all([refreshSteps(), refreshJobs(), refreshHistory()]);
});

function listen() {
  const source = new EventSource(`/api/v1/events?sprint_run_id=${encodeURIComponent(id)}`);
  watchConnection(source, () => refreshAll().catch(() => {}));
  for (const type of ['started', 'completed', 'failed', 'step_started', 'step_completed', 'transition']) {
    source.addEventListener(type, () => refreshAll().catch(() => {}));
  }
}

refreshAll()
  .then(() => {
    if (document.body.dataset.missing !== 'true') listen();
  })
  .catch(() => showProblem('could not reach the API; reload to try again'));
const READS = { steps: refreshSteps, jobs: refreshJobs, timeline: refreshHistory };
setInterval(() => {
  for (const section of behind) READS[section]().catch(() => {});
}, 5000);
