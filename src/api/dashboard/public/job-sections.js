// The job page's sections drawn from the job itself: its usage against its budget, its last
// progress, its result or error, and an implementation job's workspace (the branch it pushed, or
// where a failed job's work was salvaged) with the product's check. All of it as text.
import { el, fillFacts } from './detail-api.js';
import { $ } from './fleet-dom.js';

export function showUsage(job) {
  const { input_tokens, output_tokens, cost_usd } = job.usage;
  const budget = job.budget
    ? Object.entries(job.budget)
        .map(([ceiling, limit]) => `${ceiling.replace(/_/g, ' ')}: ${limit}`)
        .join(', ')
    : "its kind's default, if any";
  fillFacts($('#usage'), [
    ['input tokens', input_tokens ?? '—', 'input-tokens'],
    ['output tokens', output_tokens ?? '—', 'output-tokens'],
    ['cost', cost_usd === null ? '—' : `$${cost_usd.toFixed(4)}`, 'cost'],
    ['budget', budget, 'budget'],
  ]);
}

export function showProgress(progress) {
  $('#progress-section').hidden = !progress;
  if (!progress) return;
  const bar = $('#progress-bar');
  bar.hidden = progress.percent === null;
  if (progress.percent !== null) bar.value = progress.percent;
  $('#progress-text').textContent = `${progress.percent === null ? '' : `${progress.percent}% `}${progress.message}`;
}

export function showOutcome(job) {
  const section = $('#outcome-section');
  const text = $('#outcome-text');
  const data = $('#outcome-data');
  section.hidden = !job.result && !job.error;
  text.hidden = true;
  data.hidden = true;
  if (job.error) {
    $('#outcome-title').textContent = 'Error';
    section.dataset.outcome = 'error';
    fillFacts($('#outcome'), [
      ['code', job.error.code, 'error-code'],
      ['message', job.error.message, 'error-message'],
    ]);
    if (job.error.details) {
      data.textContent = JSON.stringify(job.error.details, null, 2);
      data.hidden = false;
    }
  } else if (job.result) {
    $('#outcome-title').textContent = 'Result';
    section.dataset.outcome = 'result';
    fillFacts($('#outcome'), [['agent', job.result.agent, 'agent']]);
    if (job.result.text) {
      text.textContent = job.result.text;
      text.hidden = false;
    }
    if (job.result.data !== undefined && job.result.data !== null) {
      data.textContent = JSON.stringify(job.result.data, null, 2);
      data.hidden = false;
    }
  }
}

// An implementation job's branch (or where a failed job's work was salvaged) and its check.
export function showWorkspace(job) {
  const salvage = job.result?.salvage ?? job.error?.details?.salvage ?? null;
  const workspace = job.result?.workspace ?? salvage;
  const verify = job.result?.verify ?? null;
  $('#workspace-section').hidden = !workspace && !verify;
  const facts = [];
  if (workspace) {
    facts.push(
      [
        'branch',
        workspace.pushed ? `${workspace.branch}${salvage === workspace ? ' (salvaged)' : ''}` : 'nothing changed, nothing pushed',
        'branch',
      ],
      ['commits', `${workspace.base_sha.slice(0, 10)} → ${workspace.head_sha.slice(0, 10)}`, 'commits'],
      ['diff', `${plural(workspace.changed_files.length, 'file')}, +${workspace.insertions} −${workspace.deletions}`, 'diff'],
    );
  }
  const output = $('#check-output');
  output.hidden = !verify;
  if (verify) {
    const verdict = verify.passed ? 'passed' : verify.timed_out ? 'timed out' : `failed (exit ${verify.exit_code})`;
    facts.push(
      ['check', verify.command, 'check-command'],
      ['check result', `${verdict}, attempt ${verify.attempt}/${verify.max_attempts}`, 'check'],
    );
    output.textContent = verify.output_tail || '(no output)';
  }
  fillFacts($('#workspace'), facts);
  $('#changed-files').replaceChildren(...(workspace?.changed_files ?? []).map((file) => el('li', file)));
}

const plural = (count, noun) => `${count} ${noun}${count === 1 ? '' : 's'}`;
