package audiotest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
)

// apiClient calls the server's REST API as any client would.
type apiClient struct {
	base  string // "http://host:port"
	token string
	hc    *http.Client
}

// do sends body as JSON (none when nil) and decodes a 2xx answer into out
// (ignored when nil). Other answers become errors carrying the problem's
// detail.
func (a *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the method and URL
		}
		return fmt.Errorf("%s %s: %w", method, a.base+path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &p) == nil && (p.Detail != "" || p.Title != "") {
			msg = strings.TrimSpace(p.Title + ": " + p.Detail)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, path, err)
		}
	}
	return nil
}

// lines returns GET /lines.
func (a *apiClient) lines(ctx context.Context) ([]sipphone.LineStatus, error) {
	var ls []sipphone.LineStatus
	return ls, a.do(ctx, http.MethodGet, "/lines", nil, &ls)
}

// line returns GET /lines/{id}.
func (a *apiClient) line(ctx context.Context, id string) (sipphone.LineStatus, error) {
	var l sipphone.LineStatus
	return l, a.do(ctx, http.MethodGet, "/lines/"+url.PathEscape(id), nil, &l)
}

// audioStream is the answer of POST /audio/start.
type audioStream struct {
	StreamID   string `json:"stream_id"`
	WSURL      string `json:"ws_url"`
	Format     string `json:"format"`
	SampleRate int    `json:"sample_rate"`
	FrameMS    int    `json:"frame_ms"`
}

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
func dialAudio(ctx context.Context, st audioStream, token string) (*audioClient, error) {
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
