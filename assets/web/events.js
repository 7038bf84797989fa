// vigil events page: the rules' events newest first with their thumbnails,
// filters, a detail view with the snapshot and the clip, the rules' counts,
// and live updates from /api/events/changes. Plain JavaScript, no build step.
'use strict';

const PAGE = 50;
const state = {
  events: new Map(), // id -> event, as /api/events answers it
  order: [],         // ids, newest first
  next: 0,           // before= of the next page; 0: none
  selected: null,    // id
  seen: { camera: new Set(), rule: new Set() },
};

const form = document.getElementById('filters');
const list = document.getElementById('list');
const more = document.getElementById('more');
const detail = document.getElementById('detail');
const errorBox = document.getElementById('error');

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401) {
    location.reload(); // the server answers with its sign-in form
    throw new Error('unauthorized');
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

// query is the filters as /api/events parameters.
function query(extra) {
  const q = new URLSearchParams();
  const f = new FormData(form);
  for (const k of ['camera', 'rule', 'type']) if (f.get(k)) q.set(k, f.get(k));
  for (const k of ['since', 'until']) if (f.get(k)) q.set(k, new Date(f.get(k)).toISOString());
  q.set('limit', PAGE);
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q.toString();
}

function what(e) {
  let s = `${e.rule}: ${e.type.replace('_', ' ')}`;
  if (e.direction) s += ` ${e.direction}`;
  return s;
}

function card(e) {
  const c = el('div', 'card');
  c.dataset.id = e.id;
  if (e.evidence && e.evidence.thumbnail) {
    const img = el('img');
    img.alt = e.label || e.rule;
    img.loading = 'lazy';
    img.src = e.evidence.thumbnail;
    c.append(img);
  } else {
    c.append(el('div', 'none', e.evidence ? 'no snapshot' : 'evidence on its way'));
  }
  const text = el('div');
  text.append(el('div', 'what', what(e)));
  text.append(el('div', 'who', `${e.camera}${e.track_id ? ` · ${e.label} #${e.track_id}` : ''}`));
  text.append(el('div', 'when', new Date(e.time).toLocaleString()));
  if (e.review) text.append(el('span', `verdict ${e.review.verdict}`, verdictName(e.review.verdict)));
  c.append(text);
  if (e.id === state.selected) c.classList.add('selected');
  c.addEventListener('click', () => select(e.id));
  return c;
}

function render() {
  list.replaceChildren(...state.order.map((id) => card(state.events.get(id))));
  if (!state.order.length) list.append(el('div', 'when', 'No events yet for these filters.'));
  more.hidden = !state.next;
  document.getElementById('summary').textContent = `${state.order.length} shown`;
}

function remember(e) {
  for (const k of ['camera', 'rule']) {
    if (state.seen[k].has(e[k])) continue;
    state.seen[k].add(e[k]);
    const sel = form.elements[k];
    const o = el('option', '', e[k]);
    sel.append(o);
  }
}

function verdictName(v) { return v === 'false_alarm' ? 'false alarm' : v; }

// evidenceKey changes when what a card or the detail view shows changes.
function evidenceKey(e) {
  const v = e.evidence;
  return `${v ? `${v.snapshot}|${v.clip}` : ''}|${e.review ? e.review.verdict : ''}`;
}

async function review(e, verdict) {
  const opts = verdict
    ? { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ verdict }) }
    : { method: 'DELETE' };
  const res = await fetch(`/api/events/${encodeURIComponent(e.id)}/review`, Object.assign({ credentials: 'same-origin' }, opts));
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    errorBox.textContent = `review: ${body.error || res.statusText}`;
    return;
  }
  const body = verdict ? await res.json() : null;
  e.review = body;
  state.events.set(e.id, e);
  render();
  show(e);
  if (body && body.example) detail.append(el('p', 'when', `Its frame is now the hard example ${body.example}, for the next fine-tuning.`));
  if (body && body.example_error) detail.append(el('p', 'err', `Not kept as a hard example: ${body.example_error}`));
}

// refresh reads the first page again and merges it: new events on top,
// events whose evidence came redrawn.
async function refresh() {
  let page;
  try {
    page = await api('/api/events?' + query());
    errorBox.textContent = '';
  } catch (err) {
    errorBox.textContent = `events: ${err.message}`;
    return;
  }
  let changed = false;
  const fresh = [];
  for (const e of page.events) {
    remember(e);
    const had = state.events.get(e.id);
    if (!had) fresh.push(e.id);
    if (!had || evidenceKey(had) !== evidenceKey(e)) changed = true;
    state.events.set(e.id, e);
    if (had && e.id === state.selected && evidenceKey(had) !== evidenceKey(e)) show(e);
  }
  if (!state.order.length) state.next = page.next || 0;
  state.order = fresh.concat(state.order);
  if (changed || !list.childElementCount) render();
}

async function reload() {
  state.events.clear();
  state.order = [];
  state.next = 0;
  await refresh();
}

async function loadMore() {
  if (!state.next) return;
  const page = await api('/api/events?' + query({ before: state.next }));
  for (const e of page.events) {
    remember(e);
    if (!state.events.has(e.id)) state.order.push(e.id);
    state.events.set(e.id, e);
  }
  state.next = page.next || 0;
  render();
}

function select(id) {
  state.selected = id;
  for (const c of list.children) c.classList.toggle('selected', c.dataset.id === id);
  show(state.events.get(id));
}

function show(e) {
  const parts = [];
  const v = e.evidence;
  if (v && v.clip) {
    const video = el('video');
    video.className = 'clip';
    video.controls = true;
    video.autoplay = true;
    video.muted = true;
    video.playsInline = true;
    video.src = v.clip;
    parts.push(video);
  }
  if (v && v.snapshot) {
    const img = el('img', 'snapshot');
    img.alt = what(e);
    img.src = v.snapshot;
    parts.push(img);
  }
  if (!v) parts.push(el('p', 'empty', 'The evidence of this event is not stored yet (it waits for its clip, or for NATS).'));
  const dl = el('dl');
  const row = (k, val) => { if (val !== undefined && val !== '' && val !== null) dl.append(el('dt', '', k), el('dd', '', String(val))); };
  row('event', what(e));
  row('camera', e.camera);
  row('time', new Date(e.time).toLocaleString());
  row('object', e.track_id ? `${e.label} #${e.track_id} (${e.score.toFixed(2)})` : 'none');
  if (e.occupancy !== undefined) row('occupancy', e.occupancy);
  if (e.dwell_s) row('dwell', `${e.dwell_s} s`);
  row('counts', Object.entries(e.counts || {}).map(([k, n]) => `${k} ${n}`).join(', '));
  row('id', e.id);
  parts.push(dl);
  const bar = el('div', 'review');
  for (const [verdict, name] of [['false_alarm', 'False alarm'], ['correct', 'Correct']]) {
    const b = el('button', `verdict-button${e.review && e.review.verdict === verdict ? ' chosen' : ''}`, name);
    b.type = 'button';
    b.dataset.verdict = verdict;
    b.addEventListener('click', () => review(e, e.review && e.review.verdict === verdict ? null : verdict));
    bar.append(b);
  }
  if (e.review) bar.append(el('span', 'when', ` reviewed ${new Date(e.review.at).toLocaleString()}`));
  parts.push(bar);
  detail.replaceChildren(...parts);
}

async function counts() {
  let body;
  try {
    body = await api('/api/rules/counts');
  } catch (err) {
    return;
  }
  const rows = body.rules.map((r) => {
    const tr = el('tr');
    tr.dataset.rule = `${r.camera}/${r.rule}`;
    const occ = el('td', r.occupied ? 'occupied' : '', r.kind === 'zone' ? String(r.occupancy) : '');
    tr.append(el('td', '', r.camera), el('td', '', r.rule), el('td', '', r.armed ? 'yes' : 'no'), occ,
      el('td', 'counts', Object.entries(r.counts || {}).map(([k, n]) => `${k} ${n}`).join(', ')));
    return tr;
  });
  document.querySelector('#counts tbody').replaceChildren(...rows);
}

function follow() {
  const badge = document.getElementById('stream');
  const es = new EventSource('/api/events/changes');
  es.onopen = () => { badge.textContent = 'live'; badge.className = 'badge live'; };
  es.onmessage = () => { refresh(); counts(); };
  es.onerror = () => { badge.textContent = 'reconnecting…'; badge.className = 'badge down'; };
}

form.addEventListener('change', reload);
form.addEventListener('reset', () => setTimeout(reload, 0));
more.addEventListener('click', loadMore);
reload().then(counts).then(follow);
