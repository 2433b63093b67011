// The fleet page's small DOM helpers, shared by its modules.

export const $ = (selector) => document.querySelector(selector);

export const cell = (text, className) => {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
};
