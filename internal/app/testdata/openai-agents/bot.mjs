// A voice bot built on the OpenAI Agents SDK's TwilioRealtimeTransportLayer,
// the way its Twilio guide builds one, except that the Realtime model is a
// stand-in server on localhost (no network): it collects 1 s of the caller's
// audio, then answers with 1 s of a 1000 Hz tone as output audio deltas.
// Lines on stdout (JSON): {"port"} once listening, {"heard": base64 mu-law},
// {"mark": name} for each mark sipphone returns, {"error"}.
import { WebSocketServer } from 'ws';
import { TwilioRealtimeTransportLayer } from '@openai/agents-extensions';

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function tone(ms) {
  const n = ms * 8;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    b[i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)));
  }
  return b;
}

function linearToUlaw(s) {
  let sign = 0;
  if (s < 0) { s = -s; sign = 0x80; }
  s = Math.min(s, 32635) + 0x84;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

// The stand-in Realtime server.
const model = new WebSocketServer({ host: '127.0.0.1', port: 0 });
model.on('connection', (ws) => {
  let heard = [];
  let answered = false;
  let n = 0;
  const ev = (o) => ws.send(JSON.stringify({ event_id: 'ev' + ++n, ...o }));
  ws.on('message', (m) => {
    const e = JSON.parse(m.toString());
    if (e.type !== 'input_audio_buffer.append' || answered) return;
    heard.push(Buffer.from(e.audio, 'base64'));
    const got = Buffer.concat(heard);
    if (got.length < 8000) return;
    answered = true;
    out({ heard: got.toString('base64') });
    ev({ type: 'response.created', response: { id: 'r1', object: 'realtime.response', status: 'in_progress', output: [] } });
    const audio = tone(1000);
    for (let i = 0; i < audio.length; i += 800) {
      ev({ type: 'response.output_audio.delta', response_id: 'r1', item_id: 'i1', output_index: 0, content_index: 0,
        delta: audio.subarray(i, i + 800).toString('base64') });
    }
    ev({ type: 'response.output_audio.done', response_id: 'r1', item_id: 'i1', output_index: 0, content_index: 0 });
  });
});

// The bot's Media Streams endpoint, as in the SDK's Twilio guide.
const media = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/media-stream' });
media.on('connection', async (twilioWebSocket) => {
  const transport = new TwilioRealtimeTransportLayer({ twilioWebSocket, url: `ws://127.0.0.1:${model.address().port}/v1/realtime` });
  transport.on('*', (e) => {
    if (e.type === 'twilio_message' && e.message.event === 'mark') out({ mark: e.message.mark.name });
  });
  transport.on('error', (e) => out({ error: String(e?.error?.message ?? e?.error ?? e) }));
  try {
    await transport.connect({ apiKey: 'sk-test', model: 'gpt-realtime', url: `ws://127.0.0.1:${model.address().port}/v1/realtime` });
  } catch (e) {
    out({ error: String(e) });
  }
});

await Promise.all([model, media].map((s) => new Promise((r) => s.on('listening', r))));
out({ port: media.address().port });
