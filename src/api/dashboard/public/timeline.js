// A status history (GET .../{id}/history, oldest first) as a vertical timeline: each step with its
// time, from -> to, what triggered it, who (the actor's token, or the system) and why, and how long
// the entity stayed in the status before it. Shared by the job and sprint-run pages.
import { between, durationText, el } from './detail-api.js';

export function renderTimeline(list, items, { finished = false } = {}) {
  list.replaceChildren(
    ...items.map((item, index) => {
      const next = items[index + 1];
      const row = el('li', null, `step to-${item.to}`);
      row.dataset.to = item.to;
      row.dataset.from = item.from ?? '';
      row.dataset.trigger = item.trigger;
      const head = el('div', null, 'head');
      head.append(
        el('time', new Date(item.at).toLocaleString(), 'at'),
        el('span', `${item.from ?? '∅'} → ${item.to}`, 'change'),
        el('span', item.trigger, 'trigger'),
      );
      const meta = el('div', null, 'meta');
      meta.append(el('span', item.actor_token_id ? `by token ${item.actor_token_id.slice(0, 8)}` : 'by the system', 'actor'));
      // How long it stayed: up to the next change; the last status of a live entity, until now.
      if (next) meta.append(el('span', `${durationText(between(item.at, next.at))} in ${item.to}`, 'duration'));
      else if (!finished)
        meta.append(el('span', `${durationText(Date.now() - new Date(item.at).getTime())} in ${item.to} so far`, 'duration'));
      row.append(head, meta);
      if (item.reason) row.append(el('p', item.reason, 'reason'));
      return row;
    }),
  );
}
