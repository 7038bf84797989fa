// vigil live view: one WHEP (WebRTC) session per camera tile, camera state
// from /api/live, and capture-to-screen latency read from the time stamp
// the server draws into every frame. Plain JavaScript, no build step.
'use strict';

const POLL_MS = 2000;
const STALL_MS = 6000;
const KEEP_SAMPLES = 4000;

const live = {
  offsetMS: 0,      // server clock minus this browser's
  bestRTT: Infinity,
  iceServers: [],
  reachable: false,
  states: new Map(), // camera -> last /api/live entry
  tiles: new Map(),  // camera -> Tile
};

const grid = document.getElementById('grid');
const serverBadge = document.getElementById('server');

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

async function api(path, opts) {
  const res = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, opts));
  if (res.status === 401) {
    location.reload(); // the server answers with its sign-in form
    throw new Error('unauthorized');
  }
  return res;
}

// The stamp: a white and a black cell, 32 bits of the capture time in ms,
// 8 check bits (see liveview/stamp.go).
const STAMP_CELLS = 42;
function stampCell(width) { return Math.min(Math.max(Math.floor(width / 96), 4), 12); }

function readStamp(rgba, s) {
  const bit = (i) => {
    const p = ((s >> 1) * STAMP_CELLS * s + i * s + (s >> 1)) * 4;
    return rgba[p] + rgba[p + 1] + rgba[p + 2] > 3 * 128;
  };
  if (!bit(0) || bit(1)) return null;
  let ms = 0;
  for (let i = 0; i < 32; i++) ms = ms * 2 + (bit(2 + i) ? 1 : 0);
  let sum = 0;
  for (let i = 0; i < 8; i++) sum = sum * 2 + (bit(34 + i) ? 1 : 0);
  const check = (((ms >>> 24) + (ms >>> 16 & 255) + (ms >>> 8 & 255) + (ms & 255)) & 255) ^ 0xa5;
  return sum === check ? ms : null;
}

class Tile {
  constructor(camera) {
    this.camera = camera;
    this.pc = null;
    this.location = null;
    this.retries = 0;
    this.timer = null;
    this.frames = 0;
    this.lastFrameAt = 0;
    this.connectedAt = 0;
    this.samples = [];   // capture-to-screen latency per distinct frame, ms
    this.lastStamp = -1;
    this.shownAt = 0;

    this.root = el('section', 'tile');
    this.root.dataset.camera = camera;
    const bar = el('div', 'bar');
    this.badge = el('span', 'badge connecting', 'connecting');
    this.stats = el('span', 'stats');
    this.name = el('span', 'name', camera);
    // The motion overlay: the server draws motion gating's view (moving
    // blobs, the detector's crops, its decision) on this camera's frames,
    // for everyone who watches it.
    this.overlay = el('label', 'ovl');
    this.overlay.title = "draw motion gating's view: moving blobs, the detector's crops, its decision (every viewer sees it)";
    this.overlayBox = el('input');
    this.overlayBox.type = 'checkbox';
    this.overlay.append(this.overlayBox, ' motion');
    this.overlay.addEventListener('click', (e) => e.stopPropagation());
    this.overlayBox.addEventListener('change', () => this.setOverlay(this.overlayBox.checked));
    bar.append(this.name, this.badge, this.overlay, this.stats);
    const view = el('div', 'view');
    this.video = el('video');
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.hud = el('div', 'hud', 'latency –');
    this.msg = el('div', 'msg', 'connecting…');
    view.append(this.video, this.hud, this.msg);
    this.err = el('div', 'err');
    this.root.append(bar, view, this.err);
    this.root.addEventListener('click', () => this.root.classList.toggle('big'));
    this.canvas = document.createElement('canvas');
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    if ('requestVideoFrameCallback' in this.video) {
      this.video.requestVideoFrameCallback((t, m) => this.onFrame(t, m));
    }
    this.connect();
  }

  async setOverlay(on) {
    if (!this.overlayURL) return;
    this.overlayBusy = true;
    try {
      const res = await api(this.overlayURL, { method: 'PUT', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ motion: on }) });
      if (!res.ok) throw new Error(await res.text());
      this.overlayBox.checked = (await res.json()).motion;
    } catch (e) {
      this.overlayBox.checked = !on;
      this.err.textContent = 'motion overlay: ' + e.message;
    } finally {
      this.overlayBusy = false;
    }
  }

  update(st) {
    this.overlayURL = st.overlay;
    if (!this.overlayBusy) this.overlayBox.checked = !!st.motion_overlay;
    // In a fleet: the node that runs the camera (a remote one plays
    // through this node).
    this.name.textContent = st.node ? this.camera + ' @ ' + st.node : this.camera;
    this.name.title = st.remote ? 'run by ' + st.node + ', served through this node' : '';
    this.badge.textContent = st.state;
    this.badge.className = 'badge ' + st.state;
    this.err.textContent = (st.state === 'down' || st.state === 'stalled') && st.last_error ? st.last_error : '';
    const lat = this.latency();
    this.stats.textContent = `${st.camera_fps.toFixed(1)} fps · ${st.objects} objects · ` +
      (lat === null ? 'latency –' : `${lat.toFixed(0)} ms`);
    // A stream that went quiet while its camera streams is re-established.
    if (this.connectedAt && st.state === 'streaming' &&
        performance.now() - Math.max(this.lastFrameAt, this.connectedAt) > STALL_MS) {
      this.reconnect('stream stalled');
    }
  }

  latency() {
    const n = this.samples.length;
    if (!n) return null;
    const recent = this.samples.slice(Math.max(0, n - 30)).sort((a, b) => a - b);
    return recent[recent.length >> 1];
  }

  onFrame(now, meta) {
    this.frames++;
    this.lastFrameAt = performance.now();
    const w = meta.width || this.video.videoWidth, h = meta.height || this.video.videoHeight;
    const s = stampCell(w);
    if (w >= STAMP_CELLS * s && h >= s) {
      const cw = STAMP_CELLS * s;
      if (this.canvas.width !== cw || this.canvas.height !== s) {
        this.canvas.width = cw;
        this.canvas.height = s;
      }
      this.ctx.drawImage(this.video, 0, h - s, cw, s, 0, 0, cw, s);
      const stamp = readStamp(this.ctx.getImageData(0, 0, cw, s).data, s);
      if (stamp !== null && stamp !== this.lastStamp) {
        this.lastStamp = stamp;
        const shown = performance.timeOrigin + (meta.expectedDisplayTime || now) + live.offsetMS;
        const lat = ((shown - stamp) % 2 ** 32 + 2 ** 32) % 2 ** 32;
        if (lat < 60000) {
          this.samples.push(lat);
          if (this.samples.length > KEEP_SAMPLES) this.samples.splice(0, this.samples.length - KEEP_SAMPLES);
        }
      }
    }
    if (performance.now() - this.shownAt > 500) {
      this.shownAt = performance.now();
      const lat = this.latency();
      this.hud.textContent = lat === null ? 'latency –' : `capture→screen ${lat.toFixed(0)} ms`;
    }
    this.video.requestVideoFrameCallback((t, m) => this.onFrame(t, m));
  }

  async connect() {
    this.timer = null;
    this.close();
    const pc = new RTCPeerConnection({ iceServers: live.iceServers });
    this.pc = pc;
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => {
        try { e.receiver.jitterBufferTarget = 0; } catch (_) { /* older browsers */ }
        this.video.srcObject = new MediaStream([e.track]);
        this.video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc !== this.pc) return;
        const s = pc.connectionState;
        if (s === 'connected') {
          this.retries = 0;
          this.connectedAt = performance.now();
          this.msg.textContent = '';
        } else if (s === 'failed' || s === 'closed') {
          this.reconnect('connection ' + s);
        } else if (s === 'disconnected') {
          setTimeout(() => { if (pc === this.pc && pc.connectionState === 'disconnected') this.reconnect('disconnected'); }, 4000);
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, 1500);
      const res = await api('/api/whep/' + encodeURIComponent(this.camera), {
        method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
      });
      if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${(await res.text()).trim()}`);
      if (pc !== this.pc) return;
      this.location = res.headers.get('Location');
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      this.msg.textContent = 'connecting…';
    } catch (e) {
      if (pc === this.pc) this.reconnect(e.message || String(e));
    }
  }

  reconnect(why) {
    this.close();
    if (this.timer) return;
    const delay = Math.min(10000, 500 * 2 ** this.retries++);
    this.msg.textContent = `${why}; retrying in ${(delay / 1000).toFixed(1)} s`;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // close ends the session on both sides; keepalive lets the DELETE out
  // while the page unloads.
  close() {
    this.connectedAt = 0;
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
    if (this.location) {
      fetch(this.location, { method: 'DELETE', keepalive: true, credentials: 'same-origin' }).catch(() => {});
      this.location = null;
    }
  }

  remove() {
    this.close();
    clearTimeout(this.timer);
    this.root.remove();
  }
}

function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

async function poll() {
  try {
    const t0 = Date.now();
    const res = await api('/api/live');
    const t1 = Date.now();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const st = await res.json();
    // Keep the offset of the quickest round trip: the least uncertain one.
    if (t1 - t0 <= live.bestRTT * 1.5) {
      live.bestRTT = Math.min(live.bestRTT, t1 - t0);
      live.offsetMS = st.server_time_ms - (t0 + t1) / 2;
    }
    live.iceServers = st.ice_servers || [];
    if (!live.reachable) {
      live.reachable = true;
      // The server came back: every tile reconnects at once.
      for (const t of live.tiles.values()) if (!t.connectedAt) { clearTimeout(t.timer); t.timer = null; t.retries = 0; t.connect(); }
    }
    serverBadge.textContent = 'live';
    serverBadge.className = 'badge live';
    const seen = new Set();
    for (const cam of st.cameras) {
      seen.add(cam.camera);
      live.states.set(cam.camera, cam);
      let t = live.tiles.get(cam.camera);
      if (!t) {
        t = new Tile(cam.camera);
        live.tiles.set(cam.camera, t);
        grid.append(t.root);
      }
      t.update(cam);
    }
    for (const [name, t] of live.tiles) if (!seen.has(name)) { t.remove(); live.tiles.delete(name); }
    document.getElementById('summary').textContent =
      `${st.cameras.length} camera${st.cameras.length === 1 ? '' : 's'} · ${st.codec.toUpperCase()}`;
  } catch (e) {
    live.reachable = false;
    serverBadge.textContent = 'server unreachable — retrying';
    serverBadge.className = 'badge unreachable';
  }
  setTimeout(poll, POLL_MS);
}

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') for (const t of live.tiles.values()) t.root.classList.remove('big');
});
window.addEventListener('pagehide', () => { for (const t of live.tiles.values()) t.close(); });

// For tests and the benchmark: what each tile has shown.
window.vigil = {
  async stats(camera) {
    const t = live.tiles.get(camera);
    if (!t) return null;
    let framesDecoded = 0;
    if (t.pc) {
      const report = await t.pc.getStats();
      report.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') framesDecoded = r.framesDecoded || 0; });
    }
    return {
      camera, state: t.pc ? t.pc.connectionState : 'none', framesDecoded,
      framesShown: t.frames, latencies: t.samples.slice(), width: t.video.videoWidth, height: t.video.videoHeight,
    };
  },
};

poll();
