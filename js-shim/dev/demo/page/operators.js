// The operators' page: signs in at the auth service with the operator key (the URL's #key=…)
// for a token that reads only operators.metrics, and plots the Functions' metrics snapshots
// (src/core/metrics.rs: one every On Interval run of the count aggregator) as they arrive.
const $ = (id) => document.getElementById(id);
const POINTS = 180; // half an hour at the deployed 10 s
const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c'];

// Each chart: its lines, read from a snapshot; `rate` lines are per second over its interval.
const CHARTS = {
  events: [['join', (p) => p.presence.join, 'rate'], ['leave', (p) => p.presence.leave, 'rate'], ['timeout', (p) => p.presence.timeout, 'rate'], ['interval', (p) => p.presence.interval, 'rate']],
  filtered: [['debounced', (p) => p.presence.debounced, 'rate'], ['storm-batched', (p) => p.presence.stormBatched, 'rate'], ['storms', (p) => p.presence.storms, 'rate']],
  publishes: [['published', (p) => p.status.published, 'rate'], ['errors', (p) => p.status.errors, 'rate']],
  latency: [['p50', (p) => p.status.latencyMs?.p50 ?? null], ['p95', (p) => p.status.latencyMs?.p95 ?? null], ['p99', (p) => p.status.latencyMs?.p99 ?? null]],
  groups: [['added', (p) => p.channelGroups.add, 'rate'], ['removed', (p) => p.channelGroups.remove, 'rate']],
  online: [['online', (p) => p.globalCount.online ?? null], ['peak today', (p) => p.globalCount.peakToday ?? null]],
};
const series = Object.fromEntries(Object.entries(CHARTS).map(([name, lines]) => [name, lines.map(() => [])]));
const times = [];

function add(snapshot) {
  const p = snapshot.payload;
  const at = Date.parse(snapshot.ts);
  if (p.intervalMs === 0 && times.length) return; // a restarted history: no rates yet
  times.push(at);
  for (const [name, lines] of Object.entries(CHARTS)) {
    lines.forEach(([, read, kind], i) => {
      const v = read(p);
      series[name][i].push(v === null ? null : kind === 'rate' ? (p.intervalMs ? (v * 1000) / p.intervalMs : 0) : v);
    });
  }
  if (times.length > POINTS) {
    times.shift();
    for (const lines of Object.values(series)) for (const s of lines) s.shift();
  }
  const g = p.channelGroups;
  $('group-gauges').innerHTML = `<span>groups <b>${g.groups}</b></span><span>channels <b>${g.channels}</b></span>` +
    `<span>mean size <b>${g.averageSize}</b></span><span>over 1,900 <b>${g.over1900}</b></span>`;
  $('alerts').innerHTML = p.alerts
    .map((a) => `<li class="${a.firing ? 'firing' : 'ok'}">${a.firing ? '▲' : '✓'} ${a.name}: ${a.value} (threshold ${a.threshold}; ${a.unit})</li>`)
    .join('');
  $('state').textContent = `last snapshot ${new Date(at).toLocaleTimeString()} · every ${(p.intervalMs / 1000).toFixed(0) || '–'} s`;
  draw();
}

// Plot margins, px: the value labels sit left of the plot, the time labels below it.
const MARGIN = { left: 52, right: 8, top: 8, bottom: 22 };
const TICK_HEIGHT = 14; // .tick line-height

function draw() {
  for (const section of document.querySelectorAll('[data-chart]')) {
    const name = section.dataset.chart;
    const canvas = section.querySelector('canvas');
    const dpr = devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr;
    canvas.height = h * dpr;
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    const { left, right, top, bottom } = MARGIN;
    const values = series[name].flat().filter((v) => v !== null);
    const max = niceMax(Math.max(0.1, ...values));
    const x = (i) => left + ((w - left - right) * i) / Math.max(1, times.length - 1);
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    // Grid lines here; their values and the time span are .tick elements (see ticks()).
    ctx.strokeStyle = '#e5e7eb';
    for (const f of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(left, y(max * f));
      ctx.lineTo(w - right, y(max * f));
      ctx.stroke();
    }
    series[name].forEach((s, i) => {
      ctx.strokeStyle = ctx.fillStyle = COLORS[i];
      ctx.lineWidth = 2;
      ctx.beginPath();
      let pen = false;
      s.forEach((v, j) => {
        if (v === null) return void (pen = false);
        pen ? ctx.lineTo(x(j), y(v)) : ctx.moveTo(x(j), y(v));
        pen = true;
        // A value with no neighbour (the first, or after a gap) would draw nothing: a dot.
        if ((s[j - 1] ?? null) === null && (s[j + 1] ?? null) === null) ctx.fillRect(x(j) - 2, y(v) - 2, 4, 4);
      });
      ctx.stroke();
    });
    ticks(section, [
      ...[1, 0.5, 0].map((f) => ({ cls: 'y', text: fmt(max * f), style: { top: `${y(max * f) - TICK_HEIGHT / 2}px`, width: `${left - 6}px` } })),
      ...(times.length
        ? [
            { cls: 'x', text: new Date(times[0]).toLocaleTimeString(), style: { left: `${left}px`, bottom: '2px' } },
            { cls: 'x', text: new Date(times.at(-1)).toLocaleTimeString(), style: { right: `${right}px`, bottom: '2px' } },
          ]
        : []),
    ]);
    section.querySelector('.legend').innerHTML = CHARTS[name]
      .map(([label], i) => `<span><i style="background:${COLORS[i]}"></i>${label} ${fmt(series[name][i].at(-1) ?? 0)}</span>`)
      .join('');
  }
}

/** A chart's axis labels as elements over its canvas: laid out and measured as text. */
function ticks(section, labels) {
  const plot = section.querySelector('.plot');
  for (const old of plot.querySelectorAll('.tick')) old.remove();
  for (const { cls, text, style } of labels) {
    const el = document.createElement('span');
    el.className = `tick ${cls}`;
    el.textContent = text;
    Object.assign(el.style, style);
    plot.append(el);
  }
}

const niceMax = (v) => {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
};
const fmt = (v) => (v >= 100 || v === 0 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(v >= 10 ? 1 : 2));

async function main() {
  const key = new URLSearchParams(location.hash.slice(1)).get('key') ?? '';
  const res = await fetch('/auth/operator', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key }) });
  const session = await res.json();
  if (!res.ok) throw new Error(`operator sign-in refused: ${session.error}`);
  const pubnub = new PubNub({ publishKey: 'pub-c-local', subscribeKey: 'sub-c-local', userId: session.operatorId, origin: location.host, ssl: location.protocol === 'https:' });
  pubnub.setToken(session.token);
  pubnub.addListener({
    message: (e) => e.message?.type === 'metrics.snapshot' && add(e.message),
    status: (s) => s.category !== 'PNConnectedCategory' && ($('state').textContent = s.category.replace(/^PN|Category$/g, '')),
  });
  pubnub.subscribe({ channels: [session.channel] });
  $('state').textContent = 'waiting for the first snapshot…';
  window.operators = { series, times }; // for the console and the browser test
  draw(); // empty axes until the first snapshot
  addEventListener('resize', draw);
}

main().catch((e) => ($('state').textContent = e.message));
