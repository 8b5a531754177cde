// pcm-player plays 16-bit PCM chunks posted to its port (ArrayBuffers) at
// the context's rate, resampling linearly when the stream's rate differs.
// A small pre-buffer absorbs network jitter; the queue is capped (oldest
// audio dropped) so latency cannot grow. Every ~200 ms it posts what it
// played: level in dBFS (RMS) and the frequency from zero crossings, so
// the page (and its tests) can check what the phone's microphone sends.
class PCMPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.step = (o.inputRate || sampleRate) / sampleRate; // input samples per output sample
    this.pre = Math.round(sampleRate * (o.preBufferMs || 80) / 1000);
    this.cap = Math.round(sampleRate * (o.capMs || 400) / 1000);
    this.buf = new Float32Array(this.cap + 8192);
    this.r = 0; this.n = 0;          // ring read position and fill
    this.playing = false;
    this.pos = 0; this.last = 0;     // resampler phase and previous input sample
    this.win = Math.round(sampleRate / 5);
    this.sq = 0; this.count = 0; this.cross = 0; this.armed = false; this.underruns = 0; this.dropped = 0;
    this.port.onmessage = (e) => {
      if (e.data === 'clear') { this.n = 0; this.playing = false; return; }
      this.push(new Int16Array(e.data));
    };
  }

  put(v) {
    if (this.n === this.buf.length) { this.r = (this.r + 1) % this.buf.length; this.n--; this.dropped++; }
    this.buf[(this.r + this.n) % this.buf.length] = v;
    this.n++;
  }

  push(pcm) {
    if (this.step === 1) {
      for (let i = 0; i < pcm.length; i++) this.put(pcm[i] / 32768);
    } else {
      // Linear interpolation between the previous and the current sample.
      let pos = this.pos;
      for (let i = 0; i < pcm.length; i++) {
        const cur = pcm[i] / 32768;
        while (pos <= 1) { this.put(this.last + (cur - this.last) * pos); pos += this.step; }
        pos -= 1;
        this.last = cur;
      }
      this.pos = pos;
    }
    // Too much queued (a burst after a stall): drop the oldest.
    if (this.n > this.cap) { const drop = this.n - this.pre; this.r = (this.r + drop) % this.buf.length; this.n -= drop; this.dropped += drop; }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.n >= this.pre) this.playing = true;
    for (let i = 0; i < out.length; i++) {
      let v = 0;
      if (this.playing) {
        if (this.n > 0) {
          v = this.buf[this.r]; this.r = (this.r + 1) % this.buf.length; this.n--;
        } else { this.playing = false; this.underruns++; }
      }
      out[i] = v;
      this.measure(v);
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    return true;
  }

  measure(v) {
    this.sq += v * v;
    // Positive-going zero crossings with a little hysteresis against noise.
    if (v < -0.005) this.armed = true;
    else if (v > 0.005 && this.armed) { this.cross++; this.armed = false; }
    if (++this.count >= this.win) {
      const rms = Math.sqrt(this.sq / this.count);
      const dbfs = rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
      const hz = dbfs > -60 ? this.cross * sampleRate / this.count : 0;
      this.port.postMessage({ dbfs, hz, buffered_ms: this.n * 1000 / sampleRate, underruns: this.underruns, dropped: this.dropped });
      this.sq = 0; this.count = 0; this.cross = 0;
    }
  }
}
registerProcessor('pcm-player', PCMPlayer);
