// The answer form of an agent's question (ask_user), shared by the fleet page and the job page:
// a choice among the question's options, or free text; the server's refusal is shown beside it.
// `onAnswered` gets the answered question once the server has stored the answer.

export function answerForm(question, { onAnswered }) {
  const form = document.createElement('form');
  form.className = 'answer';
  if (question.options) {
    const choices = document.createElement('fieldset');
    const legend = document.createElement('legend');
    legend.textContent = 'options';
    choices.append(legend);
    for (const option of question.options) {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'answer';
      input.value = option;
      input.required = true;
      label.append(input, ` ${option}`);
      choices.append(label);
    }
    form.append(choices);
  } else {
    const text = document.createElement('textarea');
    text.name = 'answer';
    text.required = true;
    text.maxLength = 10000;
    text.rows = 2;
    text.setAttribute('aria-label', 'answer');
    form.append(text);
  }
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = 'Answer';
  const outcome = document.createElement('span');
  outcome.className = 'outcome';
  outcome.setAttribute('role', 'status');
  form.append(button, outcome);
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    const answer = new FormData(form).get('answer');
    // Kept on the page a while, whatever a refresh says, so that the person sees what became of it.
    form.dataset.sentAt = String(Date.now());
    button.disabled = true;
    outcome.textContent = 'sending…';
    try {
      const response = await fetch(`/api/v1/jobs/${question.job_id}/questions/${question.id}/answer`, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify({ answer }),
      });
      const body = await response.json().catch(() => null);
      if (response.ok) return onAnswered(body.question);
      outcome.textContent = body?.error?.message ?? `refused (${response.status})`;
      // Answered by someone else, or its job ended: nothing left to answer here.
      button.disabled = response.status === 409;
    } catch {
      outcome.textContent = 'could not reach the server; try again';
      button.disabled = false;
    }
  });
  return form;
}
