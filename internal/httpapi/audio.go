package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/media"
)

// AudioStartBody asks for an audio stream on a line's call.
type AudioStartBody struct {
	Line       string `json:"line,omitempty" doc:"Line id; the first line when omitted" maxLength:"64"`
	Direction  string `json:"direction,omitempty" enum:"in,out,both" doc:"in: the phone's microphone to the client; out: the client's audio to the earpiece; both (default)"`
	Format     string `json:"format,omitempty" maxLength:"16" doc:"pcm16 (16-bit little-endian, default), ulaw or alaw; the codec names PCMU and PCMA (any case) mean ulaw and alaw. The answer gives the canonical name."`
	SampleRate int    `json:"sample_rate,omitempty" minimum:"8000" maximum:"48000" doc:"Sample rate of the client's audio in Hz, any rate from 8000 to 48000 (44100 for browsers; default audio.sample_rate, 8000)"`
	FrameMS    int    `json:"frame_ms,omitempty" minimum:"10" maximum:"1000" doc:"Length of each chunk the server sends (default from audio.buffer_size, 20)"`
}

// AudioStream describes a started stream.
type AudioStream struct {
	StreamID   string `json:"stream_id"`
	Line       string `json:"line"`
	WSURL      string `json:"ws_url" doc:"Connect here (WebSocket port) to receive and send the audio"`
	Direction  string `json:"direction"`
	Format     string `json:"format"`
	SampleRate int    `json:"sample_rate"`
	FrameMS    int    `json:"frame_ms"`
}

type audioStartInput struct {
	LineQuery
	Body *AudioStartBody
}

type audioStartOutput struct {
	Body AudioStream
}

// AudioStopBody names the stream to stop; every field is optional.
type AudioStopBody struct {
	StreamID string `json:"stream_id,omitempty" maxLength:"64" doc:"The stream to stop"`
	Line     string `json:"line,omitempty" maxLength:"64" doc:"Stop every stream of this line (when stream_id is not given)"`
}

// AudioStopped answers a stop.
type AudioStopped struct {
	StreamID string `json:"stream_id" doc:"The (first) stream concerned"`
	Line     string `json:"line"`
	Reason   string `json:"reason" doc:"stopped: stopped now; else why the stream had already ended (call_ended, client_gone, not_connected, stopped)"`
	// Streams lists every stream concerned (several for a line).
	Streams []StoppedStream `json:"streams"`
}

// StoppedStream is one stream a stop concerned.
type StoppedStream struct {
	StreamID string `json:"stream_id"`
	Line     string `json:"line"`
	Reason   string `json:"reason"`
	Already  bool   `json:"already_ended" doc:"The stream had ended before this request"`
}

type audioStopInput struct {
	LineQuery
	Body *AudioStopBody
}
type audioStopOutput struct{ Body AudioStopped }

// LoopbackBody turns loopback on or off.
type LoopbackBody struct {
	Enabled *bool `json:"enabled,omitempty" doc:"true (the default, also with no body) echoes the phone's microphone back to its earpiece; false stops it"`
}

type loopbackInput struct {
	LinePath
	Body *LoopbackBody
}

// LoopbackState answers a loopback change.
type LoopbackState struct {
	Line     string `json:"line"`
	Loopback bool   `json:"loopback"`
}

type loopbackOutput struct{ Body LoopbackState }

type playInput struct {
	LinePath
	RawBody []byte `contentType:"audio/wav" doc:"A WAV file: 16-bit PCM at any rate, mu-law or A-law; mono or stereo"`
}

// Playback answers a play request.
type Playback struct {
	PlaybackID string  `json:"playback_id"`
	Line       string  `json:"line"`
	DurationS  float64 `json:"duration_s"`
}

type playOutput struct{ Body Playback }

// maxWAV bounds an uploaded WAV file.
const maxWAV = 32 << 20

func audioStart(d Deps) func(context.Context, *audioStartInput) (*audioStartOutput, error) {
	return func(ctx context.Context, in *audioStartInput) (*audioStartOutput, error) {
		b := AudioStartBody{}
		if in.Body != nil {
			b = *in.Body
		}
		if b.Line == "" {
			b.Line = in.Line
		}
		if b.Direction == "" {
			b.Direction = "both"
		}
		if b.Format == "" {
			b.Format = "pcm16"
		}
		if b.SampleRate == 0 {
			b.SampleRate = d.DefaultSampleRate
		}
		if b.FrameMS == 0 {
			b.FrameMS = d.DefaultFrameMS
		}
		f, err := dsp.ParseFormat(b.Format)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("format %q is not known: use pcm16, ulaw (PCMU) or alaw (PCMA)", b.Format))
		}
		if _, err := dsp.NewResampler(8000, b.SampleRate); err != nil {
			return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("sample_rate %d Hz cannot be converted from the phone's 8000 Hz (%v); "+
				"use a common rate such as 16000, 44100 or 48000", b.SampleRate, err))
		}
		// A stream nobody connects to is stopped by its owner's timer.
		st, err := d.Lines.StartStream(b.Line, line.StreamOptions{Direction: b.Direction, Format: f, SampleRate: b.SampleRate,
			FrameMS: b.FrameMS, ConnectTimeout: connectTimeout})
		if err != nil {
			return nil, httpError(err)
		}
		return &audioStartOutput{Body: AudioStream{StreamID: st.ID, Line: st.LineID, WSURL: d.wsURL(requestHost(ctx)) + "/audio/" + st.ID,
			Direction: b.Direction, Format: f.String(), SampleRate: b.SampleRate, FrameMS: b.FrameMS}}, nil
	}
}

func audioStop(d Deps) func(context.Context, *audioStopInput) (*audioStopOutput, error) {
	return func(ctx context.Context, in *audioStopInput) (*audioStopOutput, error) {
		b := AudioStopBody{Line: in.Line}
		if in.Body != nil {
			b.StreamID = in.Body.StreamID
			if in.Body.Line != "" {
				b.Line = in.Body.Line
			}
		}
		stopped, err := d.Lines.StopStreams(b.StreamID, b.Line, "stopped")
		if err != nil {
			return nil, httpError(err)
		}
		out := AudioStopped{StreamID: stopped[0].StreamID, Line: stopped[0].Line, Reason: stopped[0].Reason}
		for _, s := range stopped {
			out.Streams = append(out.Streams, StoppedStream{StreamID: s.StreamID, Line: s.Line, Reason: s.Reason, Already: s.Already})
		}
		return &audioStopOutput{Body: out}, nil
	}
}

func loopback(d Deps) func(context.Context, *loopbackInput) (*loopbackOutput, error) {
	return func(ctx context.Context, in *loopbackInput) (*loopbackOutput, error) {
		on := in.Body == nil || in.Body.Enabled == nil || *in.Body.Enabled
		l, err := d.Lines.SetLoopback(in.ID, on)
		if err != nil {
			return nil, httpError(err)
		}
		return &loopbackOutput{Body: LoopbackState{Line: l, Loopback: on}}, nil
	}
}

func play(d Deps) func(context.Context, *playInput) (*playOutput, error) {
	return func(ctx context.Context, in *playInput) (*playOutput, error) {
		w, err := dsp.ReadWAVLimit(bytes.NewReader(in.RawBody), maxWAV)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(err.Error())
		}
		pcm := w.Samples
		if w.SampleRate != 8000 {
			if pcm, err = dsp.Resample(pcm, w.SampleRate, 8000); err != nil {
				return nil, huma.Error422UnprocessableEntity(err.Error())
			}
		}
		id, l, err := d.Lines.Play(in.ID, pcm)
		if err != nil {
			return nil, httpError(err)
		}
		return &playOutput{Body: Playback{PlaybackID: id, Line: l, DurationS: float64(len(pcm)) / 8000}}, nil
	}
}

// connectTimeout stops a stream nobody connected to.
const connectTimeout = 30 * time.Second

// controlMessage is a text message on an audio WebSocket.
type controlMessage struct {
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`
	Cleared bool   `json:"cleared,omitempty"`
	Message string `json:"message,omitempty"`
}

// maxAudioFrame bounds one client frame (10 s of 48 kHz PCM16).
const maxAudioFrame = 1 << 20

// audioWS serves /audio/{id}: the stream's audio both ways.
func audioWS(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, ok := d.Lines.Stream(r.PathValue("id"))
		if !ok {
			problem(w, http.StatusNotFound, "no audio stream "+r.PathValue("id")+"; start one with POST /audio/start")
			return
		}
		if !st.Connect() {
			problem(w, http.StatusConflict, "audio stream "+st.ID+" already has a client")
			return
		}
		release, ok := d.Clients.admit(w, r)
		if !ok {
			return
		}
		defer release()
		c, err := d.acceptWS(w, r)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(maxAudioFrame)
		log := d.Logger.With("component", "audio", "line", st.LineID, "stream_id", st.ID, "peer", r.RemoteAddr)
		queue, drops := func() int { return 0 }, func() uint64 { return 0 }
		if st.Listener != nil {
			queue, drops = func() int { return len(st.Listener.C()) }, st.Listener.Dropped
		}
		defer d.Clients.add(ClientInfo{Kind: "audio", Peer: r.RemoteAddr, Since: time.Now(), StreamID: st.ID}, queue, drops)()
		ctx, cancel := context.WithCancel(r.Context())
		text := make(chan controlMessage, 16)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			defer cancel()
			readAudio(ctx, c, st, text)
		}()
		// The reader ends when the connection closes; wait for it.
		defer func() {
			cancel()
			c.CloseNow()
			<-readDone
		}()
		var chunks <-chan *media.Chunk
		if st.Listener != nil {
			chunks = st.Listener.C()
			// A client connecting after POST /audio/start starts at live
			// audio: what was queued before it came is dropped, so the
			// first frame is at most one frame old.
			for drained := false; !drained; {
				select {
				case ch, ok := <-chunks:
					if !ok {
						drained = true
						break
					}
					st.Listener.Release(ch)
				default:
					drained = true
				}
			}
		}
		// A client that cannot take a frame for writeTimeout is cut off. One
		// timer per connection, re-armed per frame, costs nothing per frame
		// (a context per frame would allocate on the audio path).
		frameCtx := context.WithoutCancel(ctx)
		watchdog := time.AfterFunc(time.Hour, func() { c.CloseNow() })
		watchdog.Stop()
		defer watchdog.Stop()
		for {
			select {
			case ch, ok := <-chunks:
				if !ok {
					chunks = nil
					continue
				}
				watchdog.Reset(writeTimeout)
				// No Done channel: a cancellable context makes the library
				// register an AfterFunc (two allocations) per frame; the
				// watchdog bounds the write instead.
				err := c.Write(frameCtx, websocket.MessageBinary, ch.Data)
				watchdog.Stop()
				captured := ch.Captured
				st.Listener.Release(ch)
				if err != nil {
					log.Debug("audio client write failed", "err", err)
					d.Lines.StopStream(st.ID, "client_gone")
					return
				}
				st.Media.ObserveCapture(time.Since(captured))
			case m := <-st.Marks:
				if err := writeJSON(ctx, c, controlMessage{Type: "mark", Name: m.Name, Cleared: m.Cleared}); err != nil {
					return
				}
			case m := <-text:
				if err := writeJSON(ctx, c, m); err != nil {
					return
				}
			case <-st.Done():
				c.Close(websocket.StatusNormalClosure, "stream stopped: "+st.Reason())
				return
			case <-d.Shutdown:
				c.Close(websocket.StatusGoingAway, "server shutting down")
				return
			case <-ctx.Done():
				d.Lines.StopStream(st.ID, "client_gone")
				return
			}
		}
	}
}

// readAudio takes the client's frames: binary audio for the speaker, text
// control messages. Unknown messages get an error message, not a close.
func readAudio(ctx context.Context, c *websocket.Conn, st *line.Stream, replies chan<- controlMessage) {
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		if reply, ok := clientMessage(st.Speaker, typ == websocket.MessageBinary, b); ok {
			select {
			case replies <- reply:
			default: // a client that does not read its replies loses some
			}
		}
	}
}

// maxMarkName bounds a mark's name (it is echoed back).
const maxMarkName = 256

// clientMessage handles one message from an audio client: binary audio
// for the speaker (nil for an "in" stream), or a text control message. It
// returns the reply to send, if any. Nothing a client sends closes the
// stream: mistakes get an error message.
func clientMessage(sp *media.Speaker, binary bool, b []byte) (controlMessage, bool) {
	fail := func(msg string) (controlMessage, bool) { return controlMessage{Type: "error", Message: msg}, true }
	if binary {
		if sp == nil {
			return fail("this stream's direction is \"in\": audio from the client is not played")
		}
		if err := sp.Write(b); err != nil {
			return fail(err.Error())
		}
		return controlMessage{}, false
	}
	var m controlMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fail("control messages are JSON: {\"type\":\"clear\"} or {\"type\":\"mark\",\"name\":\"...\"}")
	}
	switch {
	case m.Type != "clear" && m.Type != "mark":
		return fail(fmt.Sprintf("unknown message type %q; known: clear, mark", m.Type))
	case sp == nil:
		return fail(m.Type + " needs a stream with direction out or both")
	case m.Type == "clear":
		sp.Clear()
	case m.Name == "":
		return fail("mark needs a name")
	case len(m.Name) > maxMarkName:
		return fail(fmt.Sprintf("mark name longer than %d bytes", maxMarkName))
	default:
		sp.Mark(m.Name)
	}
	return controlMessage{}, false
}

func writeJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}
