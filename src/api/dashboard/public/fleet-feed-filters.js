// The feed's filters: a job kind, the status an event went to and, for admins, an owner. They are
// the event stream's own query parameters (the server filters the replay and the live events
// alike), and they live in the page's address, so a reload or a shared link opens the same feed.
// The choices come with the page (the server writes the kinds and statuses into <body>); the
// owners are those the page has met: the owners table, and the owners whose jobs cost something in
// the plotted range.
import { $ } from './fleet-dom.js';

const NAMES = ['kind', 'status', 'owner_id'];
const isAdminPage = () => document.body.dataset.admin === 'true';
const listed = (value) => (value ? value.split(',') : []);

function option(value, text = value) {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = text;
  return element;
}

function group(label, values) {
  const element = document.createElement('optgroup');
  element.label = label;
  element.append(...values.map((value) => option(value)));
  return element;
}

/** The filters in force: what the controls hold (a value from the address they do not offer is dropped). */
function chosenFilters() {
  const form = $('#feed-filters');
  const filters = {};
  for (const name of NAMES) {
    const value = form.elements[name].value;
    if (value && (name !== 'owner_id' || isAdminPage())) filters[name] = value;
  }
  return filters;
}

/** The filters as the event stream's query string (with its leading `&`, or empty). */
export function filterQuery(filters) {
  return Object.entries(filters)
    .map(([name, value]) => `&${name}=${encodeURIComponent(value)}`)
    .join('');
}

/** Adds owners to the owner choice (keeping the one chosen); admins only, as only they see every owner. */
export function offerOwners(ids) {
  const select = $('#feed-filters select[name="owner_id"]');
  if (!select || !isAdminPage()) return;
  const known = new Set([...select.options].map((element) => element.value));
  const fresh = ids.filter((id) => id && !known.has(id));
  if (fresh.length === 0) return;
  const chosen = select.value;
  const owners = [...known, ...fresh].filter(Boolean).sort();
  select.replaceChildren(option('', 'every owner'), ...owners.map((id) => option(id)));
  select.value = chosen;
}

/** Fills the controls from the page and its address; `changed(filters)` runs on each change. */
export function setUpFilters(changed) {
  const form = $('#feed-filters');
  const body = document.body.dataset;
  const kind = form.elements.kind;
  const status = form.elements.status;
  kind.append(...listed(body.kinds).map((value) => option(value)));
  const jobStatuses = listed(body.jobStatuses);
  const others = listed(body.statuses).filter((value) => !jobStatuses.includes(value));
  status.append(group('jobs', jobStatuses), group('other entities', others));
  form.querySelector('.admin-only').hidden = !isAdminPage();

  const asked = new URLSearchParams(location.search);
  if (asked.get('owner_id')) offerOwners([asked.get('owner_id')]);
  for (const name of NAMES) {
    const select = form.elements[name];
    select.value = asked.get(name) ?? '';
    if (select.selectedIndex === -1) select.value = '';
  }
  form.addEventListener('submit', (submitted) => submitted.preventDefault());
  form.addEventListener('change', () => {
    const params = new URLSearchParams(location.search);
    for (const name of NAMES) {
      const value = form.elements[name].value;
      if (value) params.set(name, value);
      else params.delete(name);
    }
    const query = params.toString();
    history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
    changed(chosenFilters());
  });
  return chosenFilters();
}
