// The fleet page: workers and job counts polled from the API, and the live feed of status
// changes from the event stream. The browser sends the Basic auth login it used for this page.
// The stream opens with the most recent changes (?replay=), so a reload does not empty the feed;
// EventSource's own reconnects send Last-Event-ID, which the server prefers, so none repeat.
const STATUSES = ['queued', 'claimed', 'running', 'done', 'failed', 'cancelled', 'skipped'];
const FEED_LENGTH = 200;
const REPLAYED = 50;

const $ = (selector) => document.querySelector(selector);
const cell = (text, className) => {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
};

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
        cell(String(worker.pid), 'number'),
        cell(worker.kinds.join(', ')),
        cell(String(worker.concurrency), 'number'),
        cell(worker.current_jobs.length ? worker.current_jobs.map((job) => `${job.kind} ${job.id.slice(0, 8)}`).join(', ') : '—'),
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
        cell(job.id.slice(0, 8)),
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

function describe(event) {
  const subject = event.job ? `${event.job.kind} job` : event.step ? `step ${event.step.position} (${event.step.name})` : event.entity;
  return `${new Date(event.at).toLocaleTimeString()}  ${subject} ${event.entity_id.slice(0, 8)}  ${event.from ?? '∅'} → ${event.to}  [${event.trigger}]`;
}

function listen() {
  const source = new EventSource(`/api/v1/events?replay=${REPLAYED}`);
  const feed = $('#feed');
  const connection = $('#connection');
  const onEvent = (message) => {
    const event = JSON.parse(message.data);
    const item = document.createElement('li');
    item.className = `type-${event.type}`;
    item.dataset.entityId = event.entity_id;
    item.dataset.to = event.to;
    item.textContent = describe(event);
    feed.prepend(item);
    while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
    if (event.entity === 'job') scheduleJobsRefresh();
  };
  for (const type of ['started', 'completed', 'failed', 'step_started', 'step_completed', 'transition'])
    source.addEventListener(type, onEvent);
  source.addEventListener('connected', () => {
    connection.dataset.state = 'live';
    connection.textContent = 'live';
  });
  source.onerror = () => {
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
  }, 500);
}

listen();
refreshWorkers().catch(() => {});
refreshJobs().catch(() => {});
refreshWork().catch(() => {});
setInterval(() => refreshWorkers().catch(() => {}), 5000);
setInterval(() => refreshJobs().catch(() => {}), 10000);
