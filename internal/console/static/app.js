// The console page: lines live from /ws, actions through the REST API,
// listen and talk through audio streams. Stable hooks for tests and users'
// own checks are data-testid and data-state attributes (see docs/console.md).
import { request, wsURL, token, setToken, AuthError } from './api.js';
import { Listener, Talker, whyNoTalk } from './audio.js';

const $ = (sel, root = document) => root.querySelector(sel);
const lines = new Map();    // id -> LineStatus
const views = new Map();    // id -> element refs
const listeners = new Map();
const talkers = new Map();
let patterns = [];
let lastSeq = null;
let events = null;
let reconnectDelay = 500;
let refreshTimer = null;
let authFailed = false;
const MAX_EVENTS = 500;

const STATE_WORDS = {
  unregistered: 'Not registered', on_hook: 'On hook', ringing: 'Ringing', off_hook: 'Off hook', unknown: 'Unknown',
};

function showError(msg) {
  const el = $('#error');
  el.textContent = msg || '';
  el.hidden = !msg;
}

function setConn(state, text) {
  const el = $('#conn');
  el.dataset.state = state;
  $('.text', el).textContent = text;
}

// ---- authentication --------------------------------------------------

let tokenWaiters = [];

function askToken(message) {
  const dlg = $('#token-dialog');
  const err = $('#token-error');
  err.textContent = message || '';
  err.hidden = !message;
  if (!dlg.open) dlg.showModal();
  $('#token-input').focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

$('#token-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const t = $('#token-input').value.trim();
  if (!t) return;
  setToken(t);
  try {
    await request('GET', '/status');
  } catch (err) {
    if (err instanceof AuthError) {
      setToken('');
      $('#token-error').textContent = 'The server refused this token. Check api.tokens in its configuration.';
      $('#token-error').hidden = false;
      $('#token-input').select();
      return;
    }
  }
  $('#token-dialog').close();
  $('#token-input').value = '';
  $('#forget-token').hidden = false;
  authFailed = false;
  const w = tokenWaiters;
  tokenWaiters = [];
  w.forEach((r) => r());
});

$('#token-dialog').addEventListener('cancel', (e) => e.preventDefault()); // nothing works without it

$('#forget-token').addEventListener('click', () => {
  setToken('');
  location.reload();
});

// api wraps request: a 401 brings the token prompt back, then retries once.
async function api(method, path, body, contentType) {
  try {
    return await request(method, path, body, contentType);
  } catch (e) {
    if (!(e instanceof AuthError)) throw e;
    await askToken(token() ? 'The token was refused; enter a valid one.' : '');
    return request(method, path, body, contentType);
  }
}

// ---- lines -----------------------------------------------------------

function tid(el, name) { el.dataset.testid = name; return el; }

function lineView(id) {
  let v = views.get(id);
  if (v) return v;
  const root = $('#line-template').content.firstElementChild.cloneNode(true);
  root.id = 'line-' + id;
  tid(root, 'line-' + id);
  root.setAttribute('aria-labelledby', 'line-' + id + '-name');
  const name = $('.name', root);
  name.id = 'line-' + id + '-name';
  v = {
    root, name, id: $('.id', root), label: $('.state-label', root),
    reg: $('.reg', root), ua: $('.ua', root), key: $('.last-key', root), dialed: $('.dialed', root),
    call: $('.call', root), rtp: $('.rtp', root),
    form: $('.ring-form', root),
    callerName: tid($('.caller-name', root), 'caller-name-' + id),
    callerNumber: tid($('.caller-number', root), 'caller-number-' + id),
    pattern: tid($('.pattern', root), 'pattern-' + id),
    timeout: tid($('.timeout', root), 'timeout-' + id),
    ring: tid($('.ring', root), 'ring-' + id),
    stopRing: tid($('.stop-ring', root), 'stop-ring-' + id),
    hangup: tid($('.hangup', root), 'hangup-' + id),
    listen: tid($('.listen', root), 'listen-' + id),
    talk: tid($('.talk', root), 'talk-' + id),
    loopback: tid($('.loopback', root), 'loopback-' + id),
    play: tid($('.play', root), 'play-' + id),
    levelIn: tid($('.level-in', root), 'level-in-' + id),
    levelOut: tid($('.level-out', root), 'level-out-' + id),
    levelInText: $('.level-in-text', root), levelOutText: $('.level-out-text', root),
    status: tid($('.audio-status', root), 'audio-status-' + id),
    talkNote: $('.talk-note', root),
  };
  fillPatterns(v.pattern);
  const why = whyNoTalk();
  if (why) { v.talkNote.textContent = why; v.talkNote.hidden = false; tid(v.talkNote, 'talk-note-' + id); }
  wireLine(id, v);
  views.set(id, v);
  $('#lines').append(root);
  const opt = document.createElement('option');
  opt.value = id; opt.textContent = id;
  $('#filter-line').append(opt);
  return v;
}

function fillPatterns(sel) {
  const cur = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  for (const p of patterns) {
    const o = document.createElement('option');
    o.value = p; o.textContent = p;
    sel.append(o);
  }
  sel.value = cur;
}

function fmtDuration(s) {
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

function renderLine(st) {
  const v = lineView(st.id);
  const state = st.state || 'unknown';
  v.root.dataset.state = state;
  v.root.dataset.registered = String(!!st.registered);
  v.name.textContent = st.display_name || st.id;
  v.id.textContent = [st.display_name ? st.id : '', st.user !== st.id ? 'user ' + st.user : ''].filter(Boolean).join(' · ');
  v.label.textContent = STATE_WORDS[state] || state;
  const r = st.registration;
  if (st.registered) {
    let exp = '';
    if (r && r.expires) exp = ` · expires ${new Date(r.expires).toLocaleTimeString()}`;
    v.reg.textContent = (st.contact || (r && r.contact) || 'registered') + exp;
  } else {
    v.reg.textContent = 'not registered';
  }
  v.ua.textContent = st.user_agent || (r && r.user_agent) || '—';
  v.key.textContent = st.last_dtmf ? `${st.last_dtmf}${st.last_dtmf_at ? ' at ' + new Date(st.last_dtmf_at).toLocaleTimeString() : ''}` : '—';
  if (st.call && st.call.dialed) v.dialed.textContent = st.call.dialed;
  else if (st._dialed) v.dialed.textContent = st._dialed;
  const c = st.call;
  if (c) {
    const since = Date.parse(c.since);
    v.call.dataset.since = String(since);
    v.call.textContent = `${c.direction === 'from_phone' ? 'from the phone' : 'to the phone'} · ${fmtDuration((Date.now() - since) / 1000)}${c.codec ? ' · ' + c.codec : ''}`;
    const m = c.media;
    v.rtp.textContent = m ? `loss ${m.rtp.lost} · jitter ${m.rtp.jitter_ms.toFixed(1)} ms · in ${m.rtp.packets_received} / out ${m.rtp.packets_sent} pkts` : '—';
    // A refresh read before a toggle took effect must not undo it.
    if (!(v.loopbackHeld > Date.now())) v.loopback.checked = !!(m && m.loopback);
  } else if (st.ring) {
    delete v.call.dataset.since;
    const cid = st.ring.caller_id;
    v.call.textContent = `ringing${cid ? ' as ' + [cid.name, cid.number].filter(Boolean).join(' ') : ''}`;
    v.rtp.textContent = '—';
  } else {
    delete v.call.dataset.since;
    v.call.textContent = '—';
    v.rtp.textContent = '—';
    v.loopback.checked = false;
  }
  const inCall = !!c;
  v.ring.disabled = !st.registered || state === 'ringing' || state === 'off_hook';
  v.stopRing.disabled = state !== 'ringing';
  v.hangup.disabled = !inCall && state !== 'ringing';
  v.listen.disabled = !inCall && !listeners.has(st.id);
  v.talk.disabled = (!inCall && !talkers.has(st.id)) || !!whyNoTalk();
  v.loopback.disabled = !inCall;
  v.play.disabled = !inCall;
  if (!inCall) {
    // The server ends the streams with the call.
    listeners.get(st.id)?.finish('call ended');
    talkers.get(st.id)?.finish('call ended');
  }
}

function setLines(list) {
  for (const st of list) {
    const prev = lines.get(st.id);
    if (prev && prev._dialed && !st._dialed) st._dialed = prev._dialed;
    lines.set(st.id, st);
    renderLine(st);
  }
}

async function refreshLines() {
  refreshTimer = null;
  try {
    setLines(await api('GET', '/lines'));
  } catch (e) {
    showError('Could not read the lines: ' + e.message);
  }
}

function scheduleRefresh() {
  if (!refreshTimer) refreshTimer = setTimeout(refreshLines, 50);
}

// applyEvent updates a line at once from an event; the REST refresh that
// follows fills in the details.
function applyEvent(ev) {
  const st = lines.get(ev.line);
  if (!st) return;
  const next = { ...st };
  switch (ev.type) {
    case 'registered': next.registered = true; if (next.state === 'unregistered') next.state = 'on_hook'; break;
    case 'unregistered': next.registered = false; next.state = 'unregistered'; break;
    case 'ring_start': next.state = 'ringing'; break;
    case 'ring_stop': if (ev.reason !== 'answered') next.state = next.registered ? 'on_hook' : 'unregistered'; break;
    case 'off_hook': next.state = 'off_hook'; next.call = st.call || { id: ev.call_id, since: ev.timestamp, direction: ev.direction || 'to_phone' }; break;
    case 'on_hook': next.state = 'on_hook'; next.call = null; break;
    case 'hangup': next.state = 'unknown'; next.call = null; break;
    case 'dtmf': next.last_dtmf = ev.digit; next.last_dtmf_at = ev.timestamp; break;
    case 'dialed': next._dialed = ev.number; break;
    default: return;
  }
  lines.set(ev.line, next);
  renderLine(next);
}

// ---- actions ---------------------------------------------------------

async function act(id, what, fn) {
  const v = views.get(id);
  try {
    showError('');
    await fn();
  } catch (e) {
    showError(`${id}: ${what} failed: ${e.message}`);
    if (v) v.status.textContent = `${what} failed: ${e.message}`;
  }
}

function setMeter(meter, text, dbfs, extra = {}) {
  const d = Math.max(-120, dbfs);
  meter.value = Math.max(-60, d);
  meter.dataset.dbfs = d.toFixed(1);
  for (const [k, val] of Object.entries(extra)) meter.dataset[k] = String(val);
  text.textContent = d <= -119 ? '—' : `${d.toFixed(0)} dBFS`;
}

function wireLine(id, v) {
  const path = '/lines/' + encodeURIComponent(id);
  v.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = {};
    const name = v.callerName.value.trim(), number = v.callerNumber.value.trim();
    if (name || number) body.caller_id = { name, number };
    if (v.pattern.value) body.pattern = v.pattern.value;
    if (v.timeout.value) body.timeout_s = Number(v.timeout.value);
    act(id, 'Ring', async () => {
      const r = await api('POST', path + '/ring', body);
      v.status.textContent = `Ringing (ring ${r.ring_id})`;
    });
  });
  v.stopRing.addEventListener('click', () => act(id, 'Stop ring', () => api('DELETE', path + '/ring')));
  v.hangup.addEventListener('click', () => act(id, 'Hang up', () => api('POST', path + '/hangup')));
  v.loopback.addEventListener('change', () => {
    v.loopbackHeld = Date.now() + 60000;
    act(id, 'Loopback', async () => {
      const r = await api('POST', path + '/loopback', { enabled: v.loopback.checked });
      v.loopback.checked = r.loopback;
    }).finally(() => { v.loopbackHeld = Date.now() + 1500; });
  });
  v.play.addEventListener('change', () => {
    const f = v.play.files[0];
    if (!f) return;
    act(id, 'Play', async () => {
      const r = await api('POST', path + '/play', f, 'audio/wav');
      v.status.textContent = `Playing ${f.name} (${r.duration_s.toFixed(1)} s)`;
    }).finally(() => { v.play.value = ''; });
  });
  v.listen.addEventListener('click', () => act(id, 'Listen', async () => {
    const cur = listeners.get(id);
    if (cur) { cur.stop(); return; }
    const l = new Listener(id,
      (m) => setMeter(v.levelIn, v.levelInText, m.dbfs, { hz: Math.round(m.hz || 0) }),
      (reason) => {
        listeners.delete(id);
        v.listen.setAttribute('aria-pressed', 'false');
        v.listen.textContent = 'Listen';
        v.status.textContent = `Listening ended (${reason})`;
        renderLine(lines.get(id));
      });
    listeners.set(id, l);
    v.listen.setAttribute('aria-pressed', 'true');
    v.listen.textContent = 'Stop listening';
    try {
      await l.start();
    } catch (e) {
      l.finish('failed');
      throw e;
    }
    Object.assign(v.levelIn.dataset, { contextRate: l.info.contextRate, streamRate: l.info.streamRate });
    v.status.textContent = `Listening at ${l.info.streamRate} Hz (page ${l.info.contextRate} Hz)${l.info.worklet ? '' : ', without AudioWorklet'}`;
  }));
  v.talk.addEventListener('click', () => act(id, 'Talk', async () => {
    const cur = talkers.get(id);
    if (cur) { cur.stop(); return; }
    const t = new Talker(id,
      (m) => setMeter(v.levelOut, v.levelOutText, m.dbfs),
      (reason) => {
        talkers.delete(id);
        v.talk.setAttribute('aria-pressed', 'false');
        v.talk.textContent = 'Talk';
        v.status.textContent = `Talking ended (${reason})`;
        renderLine(lines.get(id));
      });
    talkers.set(id, t);
    v.talk.setAttribute('aria-pressed', 'true');
    v.talk.textContent = 'Stop talking';
    try {
      await t.start();
    } catch (e) {
      t.finish('failed');
      throw e;
    }
    Object.assign(v.levelOut.dataset, { contextRate: t.info.contextRate, streamRate: t.info.streamRate });
    v.status.textContent = `Talking at ${t.info.streamRate} Hz (page ${t.info.contextRate} Hz)`;
  }));
}

// ---- event timeline --------------------------------------------------

function describe(ev) {
  const parts = [];
  if (ev.reason) parts.push(ev.reason);
  if (ev.digit) parts.push('key ' + ev.digit);
  if (ev.number) parts.push('number ' + ev.number);
  if (ev.caller_id) parts.push('caller ' + [ev.caller_id.name, ev.caller_id.number].filter(Boolean).join(' '));
  if (ev.pattern) parts.push('pattern ' + ev.pattern);
  if (ev.answered) parts.push('answered');
  if (ev.direction) parts.push(ev.direction);
  if (ev.contact) parts.push(ev.contact);
  if (ev.user_agent) parts.push(ev.user_agent);
  if (ev.sample_rate) parts.push(`${ev.format || ''} ${ev.sample_rate} Hz`);
  if (ev.level_in) parts.push(`in ${ev.level_in.rms_dbfs.toFixed(0)} dBFS`);
  if (ev.level_out) parts.push(`out ${ev.level_out.rms_dbfs.toFixed(0)} dBFS`);
  if (ev.type === 'gap') parts.push(`events ${ev.from}–${ev.to} were missed`);
  return parts.join(' · ');
}

function visible(li) {
  const line = $('#filter-line').value, type = $('#filter-type').value;
  if (line && li.dataset.line !== line) return false;
  if (type === '*') return true;
  if (type === '') return li.dataset.type !== 'audio_level';
  return li.dataset.type === type;
}

function addEvent(ev) {
  const li = document.createElement('li');
  li.dataset.type = ev.type;
  li.dataset.line = ev.line || '';
  li.dataset.seq = String(ev.seq);
  const t = document.createElement('time');
  t.dateTime = ev.timestamp;
  t.textContent = new Date(ev.timestamp).toLocaleTimeString();
  const ty = document.createElement('span');
  ty.className = 'type';
  ty.textContent = ev.type;
  const d = document.createElement('span');
  d.className = 'detail';
  d.textContent = [ev.line, describe(ev)].filter(Boolean).join(': ');
  li.append(t, ty, d);
  li.hidden = !visible(li);
  const list = $('#events');
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function applyFilters() {
  for (const li of $('#events').children) li.hidden = !visible(li);
}

function fillTypeFilter(types) {
  const sel = $('#filter-type');
  for (const t of types) {
    const o = document.createElement('option');
    o.value = t; o.textContent = t;
    sel.append(o);
  }
}

$('#filter-line').addEventListener('change', applyFilters);
$('#filter-type').addEventListener('change', applyFilters);
$('#clear-events').addEventListener('click', () => { $('#events').replaceChildren(); });

// ---- event stream ----------------------------------------------------

function connectEvents() {
  const params = lastSeq !== null ? { since: String(lastSeq) } : {};
  setConn('connecting', lastSeq !== null ? 'Reconnecting…' : 'Connecting…');
  const ws = new WebSocket(wsURL('/ws', params));
  events = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    reconnectDelay = 500;
    setConn('open', 'Live');
    if (lastSeq !== null) scheduleRefresh(); // state may have moved while away
  };
  ws.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (ev.type === 'state') {
      if (ev.seq) lastSeq = ev.seq;
      setLines(ev.lines || []);
      return;
    }
    if (ev.seq) lastSeq = ev.seq;
    addEvent(ev);
    if (ev.type === 'gap') { scheduleRefresh(); return; }
    applyEvent(ev);
    if (ev.type !== 'audio_level') scheduleRefresh();
  };
  ws.onclose = async () => {
    if (events !== ws) return;
    setConn('closed', 'Disconnected; retrying');
    if (!opened) {
      // A refused upgrade does not tell the page why: ask over REST.
      try { await request('GET', '/status'); } catch (e) {
        if (e instanceof AuthError) { await askToken('The token was refused; enter a valid one.'); }
      }
    }
    setTimeout(connectEvents, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 10000);
  };
}

// ---- diagnostics -----------------------------------------------------

async function loadDiagnostics() {
  let d;
  try {
    d = await api('GET', '/diagnostics');
  } catch (e) {
    showError('Diagnostics: ' + e.message);
    return null;
  }
  $('#sip-trace').checked = !!d.sip_tracing;
  const tb = $('#ws-clients');
  tb.replaceChildren(...(d.websockets || []).map((c) => {
    const tr = document.createElement('tr');
    for (const v of [c.kind + (c.stream_id ? ' ' + c.stream_id : ''), c.peer, new Date(c.since).toLocaleTimeString(), c.queue_depth, c.dropped]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
  const ol = $('#sip-messages');
  ol.replaceChildren(...(d.sip_messages || []).slice().reverse().map((m) => {
    const li = document.createElement('li');
    const t = document.createElement('time');
    t.textContent = new Date(m.time).toLocaleTimeString();
    const dir = document.createElement('span');
    dir.textContent = `${m.direction === 'in' ? '←' : '→'} ${m.direction} ${m.transport}`;
    const det = document.createElement('span');
    det.className = 'detail';
    det.textContent = `${m.first_line} (${m.peer}, ${m.size} B)`;
    li.append(t, dir, det);
    if (m.text) { const pre = document.createElement('pre'); pre.textContent = m.text; li.append(pre); }
    return li;
  }));
  return d;
}

$('#sip-trace').addEventListener('change', () => {
  api('POST', '/diagnostics/sip-trace', { enabled: $('#sip-trace').checked }).then(loadDiagnostics, (e) => showError('Trace: ' + e.message));
});
$('#diag-refresh').addEventListener('click', loadDiagnostics);

let diagTimer = null;
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) {
      const on = t === tab;
      t.setAttribute('aria-pressed', String(on));
      $('#' + t.dataset.view).hidden = !on;
    }
    clearInterval(diagTimer);
    if (tab.dataset.view === 'diagnostics') {
      loadDiagnostics();
      diagTimer = setInterval(loadDiagnostics, 3000);
    }
  });
}

// ---- start -----------------------------------------------------------

// Call durations tick; RTP figures are re-read while a call is up.
setInterval(() => {
  let inCall = false;
  for (const v of views.values()) {
    const since = Number(v.call.dataset.since);
    if (since) {
      inCall = true;
      v.call.textContent = v.call.textContent.replace(/\d+:\d\d/, fmtDuration((Date.now() - since) / 1000));
    }
  }
  if (inCall && !document.hidden) scheduleRefresh();
}, 1000);

async function start() {
  const why = whyNoTalk();
  if (why && !window.isSecureContext) {
    $('#secure-note').textContent = why;
    $('#secure-note').hidden = false;
  }
  $('#forget-token').hidden = !token();
  let st;
  for (;;) {
    try {
      st = await request('GET', '/status');
      break;
    } catch (e) {
      if (e instanceof AuthError) {
        await askToken(token() ? 'The stored token was refused; enter a valid one.' : '');
        continue;
      }
      setConn('closed', 'Server unreachable');
      showError('Cannot reach the server: ' + e.message);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  showError('');
  $('#server').textContent = `version ${st.version} · API token ${st.auth === 'enabled' ? 'required' : 'not required'}`;
  fillTypeFilter(['registered', 'unregistered', 'off_hook', 'on_hook', 'ring_start', 'ring_stop', 'dialed', 'hangup',
    'dtmf', 'dtmf_start', 'flash', 'audio_start', 'audio_stop', 'playback_done', 'audio_level', 'gap']);
  try {
    const d = await api('GET', '/diagnostics');
    const rp = d && d.config && d.config.ht802 && d.config.ht802.ring_patterns;
    if (rp) patterns = Object.keys(rp).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  } catch { /* patterns stay free text on the server side */ }
  setLines(st.lines || []);
  for (const v of views.values()) fillPatterns(v.pattern);
  document.body.dataset.ready = 'true';
  connectEvents();
}

start();
