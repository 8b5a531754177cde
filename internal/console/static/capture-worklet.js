// pcm-capture turns its input (the microphone) into 16-bit PCM frames of
// frameMs at outRate (linear resampling when the context's rate differs)
// and posts each as {frame: ArrayBuffer, dbfs}.
class PCMCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.outRate = o.outRate || sampleRate;
    this.step = sampleRate / this.outRate; // input samples per output sample
    this.size = Math.round(this.outRate * (o.frameMs || 20) / 1000);
    this.frame = new Int16Array(this.size);
    this.k = 0; this.sq = 0;
    this.pos = 0; this.last = 0;
  }

  emit(v) {
    const s = Math.max(-1, Math.min(1, v));
    this.frame[this.k++] = s < 0 ? s * 32768 : s * 32767;
    this.sq += s * s;
    if (this.k === this.size) {
      const rms = Math.sqrt(this.sq / this.size);
      const dbfs = rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
      const frame = this.frame.buffer;
      this.port.postMessage({ frame, dbfs }, [frame]);
      this.frame = new Int16Array(this.size);
      this.k = 0; this.sq = 0;
    }
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    if (this.step === 1) {
      for (let i = 0; i < ch.length; i++) this.emit(ch[i]);
      return true;
    }
    let pos = this.pos;
    for (let i = 0; i < ch.length; i++) {
      const cur = ch[i];
      while (pos <= 1) { this.emit(this.last + (cur - this.last) * pos); pos += this.step; }
      pos -= 1;
      this.last = cur;
    }
    this.pos = pos;
    return true;
  }
}
registerProcessor('pcm-capture', PCMCapture);
