package audiotest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/sip-phone-api/sipphone/internal/httpapi"
)

// recording is what a client received on an audio WebSocket: the samples,
// when each frame arrived, and the text messages. A reader goroutine fills
// it; mu guards every field.
type recording struct {
	mu     sync.Mutex
	pcm    []int16
	frames []arrival
	texts  []string
	err    error // why reading stopped
}

// arrival records that the samples before end had arrived at at.
type arrival struct {
	end int
	at  time.Time
}

// count returns how many samples have arrived.
func (r *recording) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pcm)
}

// snapshot returns the samples so far (shared: callers must not modify).
func (r *recording) snapshot() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pcm[:len(r.pcm):len(r.pcm)]
}

// arrivedAt returns when sample i arrived: the arrival of its frame.
func (r *recording) arrivedAt(i int) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.frames {
		if f.end > i {
			return f.at, true
		}
	}
	return time.Time{}, false
}

// lastArrival returns when the latest frame arrived.
func (r *recording) lastArrival() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.frames) == 0 {
		return time.Time{}
	}
	return r.frames[len(r.frames)-1].at
}

func (r *recording) readErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// audioClient is one audio stream's WebSocket, read by its own goroutine.
type audioClient struct {
	conn *websocket.Conn
	rate int
	rec  recording
	done chan struct{} // closed when the reader returns
}

// dialAudio connects to a stream's ws_url and starts recording.
func dialAudio(ctx context.Context, st httpapi.AudioStream, token string) (*audioClient, error) {
	opts := &websocket.DialOptions{}
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(dctx, st.WSURL, opts)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("audio WebSocket %s: %w", st.WSURL, err)
	}
	c.SetReadLimit(1 << 20)
	a := &audioClient{conn: c, rate: st.SampleRate, done: make(chan struct{})}
	go a.read()
	return a, nil
}

// read records frames until the connection ends.
func (a *audioClient) read() {
	defer close(a.done)
	for {
		typ, b, err := a.conn.Read(context.Background())
		at := time.Now()
		if err != nil {
			a.rec.mu.Lock()
			a.rec.err = err
			a.rec.mu.Unlock()
			return
		}
		a.rec.mu.Lock()
		if typ == websocket.MessageText {
			a.rec.texts = append(a.rec.texts, string(b))
		} else {
			for i := 0; i+1 < len(b); i += 2 {
				a.rec.pcm = append(a.rec.pcm, int16(binary.LittleEndian.Uint16(b[i:])))
			}
			a.rec.frames = append(a.rec.frames, arrival{end: len(a.rec.pcm), at: at})
		}
		a.rec.mu.Unlock()
	}
}

// send writes pcm as one binary frame and returns when the write began.
func (a *audioClient) send(ctx context.Context, pcm []int16) (time.Time, error) {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := time.Now()
	if err := a.conn.Write(wctx, websocket.MessageBinary, b); err != nil {
		return t, fmt.Errorf("sending audio: %w", err)
	}
	return t, nil
}

// close ends the connection and waits for the reader.
func (a *audioClient) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = a.conn.Close(websocket.StatusNormalClosure, "audio test done")
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		_ = a.conn.CloseNow()
		<-closed
	}
	<-a.done
}

// waitUntil polls cond every few milliseconds until it holds, ctx ends or
// timeout passes; what names the condition in the error.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
