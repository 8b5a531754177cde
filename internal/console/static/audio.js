// Listen and talk: audio streams of the REST API carried on this page's
// own origin, played and captured with AudioWorklets at the AudioContext's
// own sample rate.
import { request, wsURL } from './api.js';

let ctx = null;
let modules = null;

// context returns the page's AudioContext (made on the first click, as
// browsers want) with the worklets loaded when the browser allows them.
export async function context() {
  if (!ctx) {
    ctx = new AudioContext({ latencyHint: 'interactive' });
    modules = ctx.audioWorklet
      ? Promise.all([ctx.audioWorklet.addModule('/console/player-worklet.js'), ctx.audioWorklet.addModule('/console/capture-worklet.js')])
      : Promise.resolve();
  }
  await modules;
  if (ctx.state !== 'running') await ctx.resume();
  return ctx;
}

// whyNoTalk explains why this page cannot use the microphone, or '' when it can.
export function whyNoTalk() {
  if (!window.isSecureContext) {
    return 'Talking needs the microphone, which browsers give only to pages over HTTPS or on localhost. ' +
      'Open this console over HTTPS (server.tls in the configuration, or a reverse proxy) to talk; listening works here.';
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return 'This browser offers no microphone access.';
  if (!window.AudioWorkletNode) return 'This browser lacks AudioWorklet, needed to send the microphone.';
  return '';
}

let rateSchema = null;

// sampleRateSchema returns the OpenAPI schema of the sample_rate a stream
// may ask for (an enum, or a minimum and maximum), or null.
function sampleRateSchema() {
  if (!rateSchema) {
    rateSchema = fetch('/openapi.json', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : null))
      .then((doc) => doc?.components?.schemas?.AudioStartBody?.properties?.sample_rate || null)
      .catch(() => null);
  }
  return rateSchema;
}

function accepts(schema, r) {
  if (!schema) return true;
  if (Array.isArray(schema.enum)) return schema.enum.includes(r);
  return !(schema.minimum !== undefined && r < schema.minimum) && !(schema.maximum !== undefined && r > schema.maximum);
}

// startStream asks for a pcm16 stream at the context's own rate when the
// server accepts it, else at 48000 or 16000 (resampled in the worklets).
async function startStream(line, direction, rate) {
  const schema = await sampleRateSchema();
  let rates = [...new Set([rate, 48000, 16000])];
  const ok = rates.filter((r) => accepts(schema, r));
  if (ok.length) rates = ok;
  let last;
  for (const r of rates) {
    try {
      return await request('POST', '/audio/start', { line, direction, format: 'pcm16', sample_rate: r, frame_ms: 20 });
    } catch (e) {
      if (e.status !== 422) throw e;
      last = e;
    }
  }
  throw last;
}

function openSocket(id) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL('/audio/' + encodeURIComponent(id)));
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('the audio WebSocket could not be opened'));
  });
}

function dbfsOf(samples) {
  let sq = 0;
  for (let i = 0; i < samples.length; i++) sq += samples[i] * samples[i];
  const rms = Math.sqrt(sq / Math.max(1, samples.length));
  return rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
}

// Listener plays one line's phone microphone. onLevel({dbfs, hz}) reports
// what was played about five times a second; onEnd(reason) when it stops.
export class Listener {
  constructor(line, onLevel, onEnd) { this.line = line; this.onLevel = onLevel; this.onEnd = onEnd; }

  async start() {
    const ac = await context();
    this.stream = await startStream(this.line, 'in', ac.sampleRate);
    this.info = { contextRate: ac.sampleRate, streamRate: this.stream.sample_rate, worklet: !!ac.audioWorklet };
    try {
      this.ws = await openSocket(this.stream.stream_id);
    } catch (e) {
      this.stopStream();
      throw e;
    }
    if (ac.audioWorklet) {
      this.node = new AudioWorkletNode(ac, 'pcm-player', {
        numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1],
        processorOptions: { inputRate: this.stream.sample_rate, preBufferMs: 80, capMs: 400 },
      });
      this.node.port.onmessage = (e) => this.onLevel(e.data);
      this.node.connect(ac.destination);
      this.ws.onmessage = (e) => { if (typeof e.data !== 'string') this.node.port.postMessage(e.data, [e.data]); };
    } else {
      // No AudioWorklet (plain HTTP from another host): schedule buffers.
      let next = 0, sq = 0, n = 0, cross = 0, armed = false;
      const win = this.stream.sample_rate / 5;
      this.ws.onmessage = (e) => {
        if (typeof e.data === 'string') return;
        const pcm = new Int16Array(e.data);
        const buf = ac.createBuffer(1, pcm.length, this.stream.sample_rate);
        const f = buf.getChannelData(0);
        for (let i = 0; i < pcm.length; i++) {
          const v = pcm[i] / 32768;
          f[i] = v; sq += v * v; n++;
          if (v < -0.005) armed = true; else if (v > 0.005 && armed) { cross++; armed = false; }
        }
        if (n >= win) {
          const dbfs = dbfsOf([Math.sqrt(sq / n)]);
          this.onLevel({ dbfs, hz: dbfs > -60 ? cross * this.stream.sample_rate / n : 0 });
          sq = 0; n = 0; cross = 0;
        }
        const src = ac.createBufferSource();
        src.buffer = buf;
        src.connect(ac.destination);
        if (next < ac.currentTime || next > ac.currentTime + 0.4) next = ac.currentTime + 0.08;
        src.start(next);
        next += buf.duration;
      };
    }
    this.ws.onclose = () => this.finish(this.stopping ? 'stopped' : 'closed');
  }

  stopStream() {
    if (!this.stream) return Promise.resolve();
    return request('POST', '/audio/stop', { stream_id: this.stream.stream_id }).catch(() => {});
  }

  // stop asks the server to stop the stream (it then closes the socket),
  // so the stream ends as "stopped" rather than "client_gone".
  stop() {
    this.stopping = true;
    this.stopStream().finally(() => this.finish('stopped'));
  }

  finish(reason) {
    if (this.done) return;
    this.done = true;
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    if (this.node) { this.node.port.postMessage('clear'); this.node.disconnect(); }
    this.onLevel({ dbfs: -120, hz: 0 });
    this.onEnd(reason);
  }
}

// Talker sends the browser's microphone to a line's earpiece in 20 ms
// frames. onLevel({dbfs}) reports the microphone's level.
export class Talker {
  constructor(line, onLevel, onEnd) { this.line = line; this.onLevel = onLevel; this.onEnd = onEnd; }

  async start() {
    const why = whyNoTalk();
    if (why) throw new Error(why);
    const ac = await context();
    // Echo cancellation for a user listening on speakers; no noise
    // suppression or gain control, which would pump a steady tone.
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    try {
      this.stream = await startStream(this.line, 'out', ac.sampleRate);
      this.ws = await openSocket(this.stream.stream_id);
    } catch (e) {
      this.stop();
      throw e;
    }
    this.info = { contextRate: ac.sampleRate, streamRate: this.stream.sample_rate };
    this.src = ac.createMediaStreamSource(this.media);
    this.node = new AudioWorkletNode(ac, 'pcm-capture', {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { outRate: this.stream.sample_rate, frameMs: 20 },
    });
    // The graph must reach the destination to be processed; it stays silent.
    this.mute = new GainNode(ac, { gain: 0 });
    this.src.connect(this.node).connect(this.mute).connect(ac.destination);
    let frames = 0;
    this.node.port.onmessage = (e) => {
      // A socket that cannot keep up loses frames rather than queueing latency.
      if (this.ws.readyState === WebSocket.OPEN && this.ws.bufferedAmount < 64 * 1024) this.ws.send(e.data.frame);
      if (++frames % 10 === 0) this.onLevel({ dbfs: e.data.dbfs });
    };
    this.ws.onmessage = () => {};
    this.ws.onclose = () => this.finish(this.stopping ? 'stopped' : 'closed');
  }

  stop() {
    this.stopping = true;
    if (!this.stream) { this.finish('stopped'); return; }
    request('POST', '/audio/stop', { stream_id: this.stream.stream_id }).catch(() => {}).finally(() => this.finish('stopped'));
  }

  finish(reason) {
    if (this.done) return;
    this.done = true;
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    if (this.src) this.src.disconnect();
    if (this.node) this.node.disconnect();
    if (this.media) for (const t of this.media.getTracks()) t.stop();
    this.onLevel({ dbfs: -120 });
    this.onEnd(reason);
  }
}
