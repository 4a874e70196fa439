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
    const left = 48, bottom = 20, top = 6, right = 8;
    const values = series[name].flat().filter((v) => v !== null);
    const max = niceMax(Math.max(0.1, ...values));
    const x = (i) => left + ((w - left - right) * i) / Math.max(1, times.length - 1);
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    // Axes: value ticks on the left, the time span below.
    ctx.strokeStyle = '#e5e7eb';
    ctx.fillStyle = '#6b7280';
    ctx.font = '11px sans-serif';
    for (const f of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(left, y(max * f));
      ctx.lineTo(w - right, y(max * f));
      ctx.stroke();
      ctx.fillText(fmt(max * f), 4, y(max * f) + 4);
    }
    if (times.length) {
      ctx.fillText(new Date(times[0]).toLocaleTimeString(), left, h - 4);
      const last = new Date(times.at(-1)).toLocaleTimeString();
      ctx.fillText(last, w - right - ctx.measureText(last).width, h - 4);
    }
    series[name].forEach((s, i) => {
      ctx.strokeStyle = COLORS[i];
      ctx.lineWidth = 2;
      ctx.beginPath();
      let pen = false;
      s.forEach((v, j) => {
        if (v === null) return void (pen = false);
        pen ? ctx.lineTo(x(j), y(v)) : ctx.moveTo(x(j), y(v));
        pen = true;
      });
      ctx.stroke();
    });
    section.querySelector('.legend').innerHTML = CHARTS[name]
      .map(([label], i) => `<span><i style="background:${COLORS[i]}"></i>${label} ${fmt(series[name][i].at(-1) ?? 0)}</span>`)
      .join('');
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
  addEventListener('resize', draw);
}

main().catch((e) => ($('state').textContent = e.message));
