// The fleet over time: plots drawn with uPlot (served by the app from its npm package, loaded by a
// classic script before this module, as window.uPlot) from one API call,
// GET /api/v1/stats/series?range=1h|24h|7d, read again on a polling interval that suits the range.
// Each plot has a title and a legend; one with nothing to draw in the range says so instead of
// showing an empty box. The uPlot instances are on window.jobfleetPlots, and each plot's
// <figure> says in data-points how many points it drew (non-null and non-zero values), so a test
// (or a curious person) can see what was drawn without reading pixels.
import { offerOwners } from './fleet-feed-filters.js';
import { $ } from './fleet-dom.js';

const RANGES = {
  '1h': { pollMs: 10_000, label: 'last hour' },
  '24h': { pollMs: 60_000, label: 'last 24 hours' },
  '7d': { pollMs: 300_000, label: 'last 7 days' },
};
const DEFAULT_RANGE = '1h';
const HEIGHT = 200;

// Each kind keeps its colour whatever else is plotted beside it.
const KIND_COLORS = {
  idea_grill: '#1f5fbf',
  idea_make_plan: '#6b4fa0',
  plan_chat: '#0f8a8a',
  task_implementation: '#c05a00',
  sprint_implementation: '#b42318',
};
const PALETTE = ['#1f5fbf', '#c05a00', '#0f8a8a', '#6b4fa0', '#b42318', '#137a3c', '#8a6d00', '#c0367a', '#475467'];
const PERCENTILE_COLORS = { p50: '#137a3c', p95: '#c05a00', p99: '#b42318' };
const FAILED_DASH = [6, 4];

function paletteColor(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}
const kindColor = (kind) => KIND_COLORS[kind] ?? paletteColor(kind);

// How values read on axes and in legends.
const trim = (x, digits) => String(Number(x.toFixed(digits)));
// A week's rates per minute are small: two significant digits keep them readable.
const rate = (x) => `${x === 0 ? 0 : x < 1 ? Number(x.toPrecision(2)) : trim(x, 1)}/min`;
const whole = (x) => trim(x, x < 10 ? 1 : 0);
const usd = (x) => `$${trim(x, x < 1 ? 4 : 2)}`;
function tokens(x) {
  if (x >= 1e6) return `${trim(x / 1e6, 1)}M`;
  if (x >= 1e3) return `${trim(x / 1e3, 1)}k`;
  return whole(x);
}
function duration(ms) {
  if (ms < 1000) return `${trim(ms, 0)} ms`;
  if (ms < 60_000) return `${trim(ms / 1000, 1)} s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000, 1)} min`;
  return `${trim(ms / 3_600_000, 1)} h`;
}

/** The kinds (or owners) a map holds, sorted so the legend's order is stable. */
const keysOf = (map) => Object.keys(map ?? {}).sort();
/** A missing array (a kind without data in the range) reads as zeros. */
const orZeros = (values, length) => values ?? new Array(length).fill(0);

function percentiles(figures) {
  return ['p50', 'p95', 'p99'].map((p) => ({ label: p, stroke: PERCENTILE_COLORS[p], values: figures?.[p] ?? [], points: true }));
}

// Each plot: its title, what it says when the range holds nothing for it, how its values read,
// whether its x axis is the range's buckets or its UTC days, and its series from a response.
const PLOTS = {
  throughput: {
    title: 'Throughput: jobs done and failed per minute, by kind',
    empty: 'No job finished',
    format: rate,
    series: (data) =>
      keysOf(data.throughput).flatMap((kind) => {
        const perMinute = (counts) => orZeros(counts, data.buckets.length).map((n) => n / (data.bucket_seconds / 60));
        return [
          { label: `${kind} done`, stroke: kindColor(kind), values: perMinute(data.throughput[kind].done) },
          { label: `${kind} failed`, stroke: kindColor(kind), dash: FAILED_DASH, values: perMinute(data.throughput[kind].failed) },
        ];
      }),
  },
  queue_depth: {
    title: 'Queue depth: jobs queued, by kind',
    empty: 'No job waited in a queue',
    format: whole,
    counts: true,
    stepped: true,
    series: (data) => keysOf(data.queue_depth).map((kind) => ({ label: kind, stroke: kindColor(kind), values: data.queue_depth[kind] })),
  },
  wait: {
    title: 'Enqueue to running: p50, p95, p99',
    empty: 'No job started running',
    format: duration,
    series: (data) => percentiles(data.wait_ms),
  },
  run: {
    title: 'Run time: p50, p95, p99',
    empty: 'No job finished',
    format: duration,
    series: (data) => percentiles(data.run_ms),
  },
  workers: {
    title: 'Workers alive',
    empty: 'No worker was alive',
    format: whole,
    counts: true,
    stepped: true,
    series: (data) => [{ label: 'workers alive', stroke: '#137a3c', fill: 'rgba(19, 122, 60, 0.08)', values: data.workers_alive }],
  },
  cost_by_kind: {
    title: 'Cost per day (UTC), by kind',
    empty: 'No job cost anything',
    format: usd,
    days: true,
    series: (data) => {
      const byKind = data.cost_per_day?.by_kind;
      return keysOf(byKind).map((kind) => ({ label: kind, stroke: kindColor(kind), values: byKind[kind].cost_usd, points: true }));
    },
  },
  tokens_by_kind: {
    title: 'Tokens per day (UTC), by kind: input and output',
    empty: 'No job used tokens',
    format: tokens,
    counts: true,
    days: true,
    series: (data) => {
      const byKind = data.cost_per_day?.by_kind;
      return keysOf(byKind).flatMap((kind) => [
        { label: `${kind} in`, stroke: kindColor(kind), values: byKind[kind].input_tokens, points: true },
        { label: `${kind} out`, stroke: kindColor(kind), dash: FAILED_DASH, values: byKind[kind].output_tokens, points: true },
      ]);
    },
  },
  cost_by_owner: {
    title: 'Cost per day (UTC), by owner',
    empty: 'No owner spent anything',
    format: usd,
    days: true,
    // Only admins get the owners' figures: without them the plot is not shown at all.
    shown: (data) => data.cost_per_day?.by_owner !== undefined,
    series: (data) => {
      const byOwner = data.cost_per_day.by_owner;
      return keysOf(byOwner).map((owner) => ({ label: owner, stroke: paletteColor(owner), values: byOwner[owner].cost_usd, points: true }));
    },
  },
};

const DAY = 86_400;
const epochSeconds = (iso) => Date.parse(iso) / 1000;
const isoDay = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 10);
/** A day on the axis: month and day (a week of full dates would run into each other); the legend says the year. */
const shortDay = (seconds) => isoDay(seconds).slice(5);
/** Whole things (jobs, workers, tokens) have whole ticks. */
const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];
/** An axis as wide as its longest label (about 7 px a character), so none is cut off. */
const axisWidth = (_u, values) => 16 + 7 * Math.max(3, ...(values ?? []).map((value) => String(value ?? '').length));

/** How many values a plot draws: non-null and non-zero (a zero lies on the axis, where nothing happened). */
const pointsOf = (series) => series.reduce((sum, one) => sum + one.values.filter((value) => value !== null && value !== 0).length, 0);

const instances = {};
window.jobfleetPlots = instances;
const charts = new Map();

/** A plot's figure: its uPlot chart (with the title and legend), or its title and a note when the range has nothing for it. */
function frame(figure, title) {
  if (!figure.querySelector('.chart')) {
    const chart = document.createElement('div');
    chart.className = 'chart';
    const empty = document.createElement('div');
    empty.className = 'empty';
    empty.hidden = true;
    const heading = document.createElement('h3');
    heading.textContent = title;
    const note = document.createElement('p');
    note.className = 'note';
    empty.append(heading, note);
    figure.append(chart, empty);
  }
  return { chart: figure.querySelector('.chart'), empty: figure.querySelector('.empty') };
}

function chartOptions(key, plot, series, state, width) {
  const seriesOptions = series.map((one) => ({
    label: one.label,
    stroke: one.stroke,
    width: 2,
    ...(one.dash ? { dash: one.dash } : {}),
    ...(one.fill ? { fill: one.fill } : {}),
    ...(plot.stepped ? { paths: window.uPlot.paths.stepped({ align: 1 }) } : {}),
    // Sparse figures (percentiles, days) are single points between gaps: a line alone would not show them.
    points: one.points ? { show: true, size: 7, fill: one.stroke } : {},
    spanGaps: false,
    value: (_u, value) => (value === null || value === undefined ? '—' : plot.format(value)),
  }));
  const x = plot.days
    ? {
        scale: { time: false, range: () => state.xRange },
        axis: { splits: () => state.x, values: (_u, splits) => splits.map(shortDay) },
        series: { label: 'day', value: (_u, value) => (value === null || value === undefined ? '—' : isoDay(value)) },
      }
    : { scale: { time: true, range: () => state.xRange }, axis: {}, series: {} };
  return {
    title: plot.title,
    width,
    height: HEIGHT,
    class: `plot-${key}`,
    series: [x.series, ...seriesOptions],
    scales: {
      x: x.scale,
      // From zero up, with room above the highest value; an all-zero plot still has an axis.
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [x.axis, { size: axisWidth, values: (_u, splits) => splits.map(plot.format), ...(plot.counts ? { incrs: WHOLE_STEPS } : {}) }],
    legend: { show: true },
  };
}

function draw(key, data) {
  const plot = PLOTS[key];
  const figure = $(`#plot-${key}`);
  if (plot.shown && !plot.shown(data)) {
    figure.hidden = true;
    figure.dataset.points = '0';
    return;
  }
  figure.hidden = false;
  const { chart, empty } = frame(figure, plot.title);
  const series = plot.series(data);
  const state = plot.days
    ? (() => {
        const x = data.days.map((day) => epochSeconds(`${day}T00:00:00Z`));
        return { x, xRange: [x[0] - DAY / 2, x[x.length - 1] + DAY / 2] };
      })()
    : { x: data.buckets.map(epochSeconds), xRange: [epochSeconds(data.from), epochSeconds(data.to)] };
  const rows = [state.x, ...series.map((one) => one.values.map((value) => value ?? null))];
  const points = pointsOf(series);
  figure.dataset.points = String(points);
  empty.querySelector('.note').textContent = `${plot.empty} in the ${RANGES[data.range]?.label ?? data.range}.`;
  empty.hidden = points > 0;
  chart.hidden = points === 0;

  // The same series (labels) as last time: new data into the same chart, legend and all; else a new chart.
  const signature = JSON.stringify([plot.days ? 'days' : 'buckets', series.map((one) => one.label)]);
  const current = charts.get(key);
  if (current && current.signature === signature) {
    Object.assign(current.state, state);
    current.chart.setData(rows);
    return;
  }
  current?.chart.destroy();
  const width = Math.max(figure.clientWidth - 16, 240);
  const made = new window.uPlot(chartOptions(key, plot, series, state, width), rows, chart);
  charts.set(key, { signature, state, chart: made });
  instances[key] = made;
}

let range = new URLSearchParams(location.search).get('range');
if (!(range in RANGES)) range = DEFAULT_RANGE;
let timer = null;
let asked = 0;

async function refreshPlots() {
  const mine = ++asked;
  const section = $('#plots');
  section.dataset.state = 'loading';
  // No answer at all (the API down, the network gone) is said like a refusal, never left silent
  // under plots that would then pass for current.
  const response = await fetch(`/api/v1/stats/series?range=${range}`, { headers: { accept: 'application/json' } }).catch(() => null);
  const data = response?.ok ? await response.json().catch(() => null) : null;
  // A range chosen meanwhile has its own request: this answer is stale.
  if (mine !== asked) return;
  const note = $('#plots-note');
  if (!data) {
    const refusal = response && !response.ok ? await response.json().catch(() => null) : null;
    if (mine !== asked) return;
    const why = !response
      ? 'the API did not answer'
      : (refusal?.error?.message ?? `the API answered ${response.status}${response.ok ? ' without the series' : ''}`);
    note.textContent = `Plots unavailable: ${why}; trying again.`;
    note.hidden = false;
    section.dataset.state = 'unavailable';
    return;
  }
  note.hidden = true;
  for (const key of Object.keys(PLOTS)) draw(key, data);
  section.dataset.range = data.range;
  section.dataset.state = 'loaded';
  $('#plots-updated').textContent =
    `${RANGES[data.range]?.label ?? data.range}, ${data.bucket_seconds / 60} min buckets · updated ${new Date(data.to).toLocaleTimeString()}`;
  // Owners whose jobs ended in the range (admins only get them) are worth offering in the feed's owner filter.
  offerOwners(keysOf(data.cost_per_day?.by_owner));
}

function poll() {
  clearInterval(timer);
  refreshPlots().catch(() => {
    $('#plots').dataset.state = 'unavailable';
  });
  timer = setInterval(() => refreshPlots().catch(() => {}), RANGES[range].pollMs);
}

function choose(chosen) {
  range = chosen;
  for (const button of document.querySelectorAll('#range button'))
    button.setAttribute('aria-pressed', String(button.dataset.range === range));
  const params = new URLSearchParams(location.search);
  if (range === DEFAULT_RANGE) params.delete('range');
  else params.set('range', range);
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  poll();
}

function resize() {
  for (const [key, { chart }] of charts) {
    const figure = $(`#plot-${key}`);
    if (!figure.hidden) chart.setSize({ width: Math.max(figure.clientWidth - 16, 240), height: HEIGHT });
  }
}

export function startPlots() {
  for (const button of document.querySelectorAll('#range button')) button.addEventListener('click', () => choose(button.dataset.range));
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(resize, 150);
  });
  choose(range);
}
