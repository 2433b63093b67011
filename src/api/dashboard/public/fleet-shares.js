// Fair shares and schedules on the fleet page: each owner's running and queued jobs with their cap,
// and the schedules with their next and last firing. Both are read from the API with the page's own
// login and nothing more: the API answers a non-admin with its own owner's row and schedules only,
// so the page never names an owner in what it asks.
import { offerOwners } from './fleet-feed-filters.js';
import { $, cell, jobHref, link } from './fleet-dom.js';

const timeText = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

// Where an owner's cap comes from: an admin set it for them, OWNER_MAX_RUNNING, or nothing.
const CAP_SOURCES = { owner: 'set for this owner', default: 'fleet default', none: '—' };

function ownerRow(owner) {
  const row = document.createElement('tr');
  row.dataset.owner = owner.owner_id;
  const atCap = owner.max_running !== null && owner.running >= owner.max_running;
  if (atCap) row.className = 'at-cap';
  row.append(
    cell(owner.owner_id),
    cell(String(owner.running), 'number running'),
    cell(String(owner.queued), 'number queued'),
    cell(owner.max_running === null ? 'none' : String(owner.max_running), 'number cap'),
    cell(CAP_SOURCES[owner.source] ?? owner.source, 'source'),
  );
  return row;
}

export async function refreshOwners() {
  const response = await fetch('/api/v1/owners', { headers: { accept: 'application/json' } });
  const note = $('#owners-note');
  if (!response.ok) {
    note.textContent = `Owners unavailable (${response.status}).`;
    note.hidden = false;
    return;
  }
  const { owners } = await response.json();
  $('#owners tbody').replaceChildren(...owners.map(ownerRow));
  offerOwners(owners.map((owner) => owner.owner_id));
  const atCap = owners.filter((owner) => owner.max_running !== null && owner.running >= owner.max_running).length;
  $('#owners-at-cap').textContent = atCap ? `${atCap} at their cap` : '';
  note.textContent = 'No owner has jobs running or queued, or a cap of their own.';
  note.hidden = owners.length > 0;
}

function subjectText(schedule) {
  if (schedule.idea_id) return `idea ${schedule.idea_id.slice(0, 8)}`;
  if (schedule.task_id) return `task ${schedule.task_id.slice(0, 8)}`;
  if (schedule.sprint_id) return `sprint ${schedule.sprint_id.slice(0, 8)}`;
  return '—';
}

function timingText(schedule) {
  if (schedule.cron) return `${schedule.cron} (${schedule.timezone})`;
  return `every ${Number(schedule.every_ms) / 1000} s`;
}

// The last firing: when, and the job it made (linked to its page) or why it made none.
function lastFiring(schedule) {
  const td = cell('', 'last');
  if (!schedule.last_fired_at) {
    td.textContent = 'never';
    return td;
  }
  td.append(`${timeText(schedule.last_fired_at)} · `);
  if (schedule.last_job_id) {
    td.append(link(jobHref(schedule.last_job_id), `job ${schedule.last_job_id.slice(0, 8)}`, 'job-link'));
  } else {
    td.append(`${schedule.last_outcome ?? 'no job'}${schedule.last_reason ? `: ${schedule.last_reason}` : ''}`);
  }
  return td;
}

function scheduleRow(schedule) {
  const row = document.createElement('tr');
  row.dataset.scheduleId = schedule.id;
  row.dataset.enabled = String(schedule.enabled);
  row.append(
    cell(schedule.kind, 'kind'),
    cell(subjectText(schedule), 'subject'),
    cell(timingText(schedule), 'timing'),
    cell(schedule.enabled ? 'yes' : 'no', 'enabled'),
    cell(schedule.enabled ? timeText(schedule.next_fire_at) : '—', 'next'),
    lastFiring(schedule),
  );
  return row;
}

export async function refreshSchedules() {
  const response = await fetch('/api/v1/schedules', { headers: { accept: 'application/json' } });
  const note = $('#schedules-note');
  if (!response.ok) {
    // An API without schedules (or a login that may not read them): say so rather than show nothing.
    $('#schedules tbody').replaceChildren();
    note.textContent = `Schedules unavailable (${response.status}).`;
    note.dataset.state = 'unavailable';
    note.hidden = false;
    return;
  }
  // GET /api/v1/schedules answers a page, newest first: {items, next_cursor}.
  const { items: schedules } = await response.json();
  $('#schedules tbody').replaceChildren(...schedules.map(scheduleRow));
  $('#schedules-enabled').textContent = schedules.length ? `${schedules.filter((s) => s.enabled).length} enabled` : '';
  note.textContent = 'No schedules.';
  note.dataset.state = 'loaded';
  note.hidden = schedules.length > 0;
}
