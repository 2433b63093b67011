// The fleet page's small DOM helpers, shared by its modules.

export const $ = (selector) => document.querySelector(selector);

export const cell = (text, className) => {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
};

// Every job and sprint run the page names links to its own page (served by the app, like this one).
export const jobHref = (id) => `/jobs/${encodeURIComponent(id)}`;
export const sprintRunHref = (id) => `/sprint-runs/${encodeURIComponent(id)}`;

export function link(href, text, className) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  if (className) a.className = className;
  return a;
}

/** A job's short id (its first 8 characters), linked to its page. */
export const jobLink = (id) => link(jobHref(id), id.slice(0, 8), 'job-link');

/** A cell holding nodes (links among text) rather than plain text. */
export function nodesCell(nodes, className) {
  const td = document.createElement('td');
  td.append(...nodes);
  if (className) td.className = className;
  return td;
}
