// Package apiclient is a typed client of sipphone's REST API, shared by the
// command-line tools (audiotest, loadtest) and the tests. Request and
// answer types are the API's own (internal/httpapi), so the client cannot
// drift from the server. An answer other than 2xx is a *Problem.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/httpapi"
)

// Client calls one server's REST API.
type Client struct {
	// Base is the REST API's root, e.g. "http://127.0.0.1:8000".
	Base string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the HTTP client (default: a client with a 10 s timeout).
	HTTP *http.Client
}

// New returns a client of the API at base.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Problem is an RFC 9457 answer other than 2xx.
type Problem struct {
	Method, Path string
	Status       int    `json:"status"`
	Title        string `json:"title"`
	Detail       string `json:"detail"`
}

func (p *Problem) Error() string {
	msg := strings.TrimSpace(p.Title + ": " + p.Detail)
	return fmt.Sprintf("%s %s: %d %s", p.Method, p.Path, p.Status, msg)
}

// StatusOf returns the HTTP status of a *Problem in err's chain, 0 when none.
func StatusOf(err error) int {
	var p *Problem
	if errors.As(err, &p) {
		return p.Status
	}
	return 0
}

// Do sends body as JSON (none when nil) and decodes a 2xx answer into out
// (ignored when nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the method and URL
		}
		return fmt.Errorf("%s %s: %w", method, c.Base+path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		p := &Problem{Method: method, Path: path}
		if json.Unmarshal(b, p) != nil || (p.Title == "" && p.Detail == "") {
			p.Title, p.Detail = res.Status, strings.TrimSpace(string(b))
		}
		p.Status = res.StatusCode
		return p
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, path, err)
		}
	}
	return nil
}

// Status returns GET /status.
func (c *Client) Status(ctx context.Context) (httpapi.StatusBody, error) {
	var s httpapi.StatusBody
	return s, c.Do(ctx, http.MethodGet, "/status", nil, &s)
}

// Lines returns GET /lines.
func (c *Client) Lines(ctx context.Context) ([]sipphone.LineStatus, error) {
	var ls []sipphone.LineStatus
	return ls, c.Do(ctx, http.MethodGet, "/lines", nil, &ls)
}

// Line returns GET /lines/{id}.
func (c *Client) Line(ctx context.Context, id string) (sipphone.LineStatus, error) {
	var l sipphone.LineStatus
	return l, c.Do(ctx, http.MethodGet, "/lines/"+url.PathEscape(id), nil, &l)
}

// Ring rings a line (POST /lines/{id}/ring).
func (c *Client) Ring(ctx context.Context, id string, b httpapi.RingBody) (httpapi.RingResult, error) {
	var r httpapi.RingResult
	return r, c.Do(ctx, http.MethodPost, "/lines/"+url.PathEscape(id)+"/ring", b, &r)
}

// Hangup ends a line's call (POST /lines/{id}/hangup).
func (c *Client) Hangup(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, "/lines/"+url.PathEscape(id)+"/hangup", nil, nil)
}

// Loopback turns a line's loopback on or off.
func (c *Client) Loopback(ctx context.Context, id string, on bool) error {
	return c.Do(ctx, http.MethodPost, "/lines/"+url.PathEscape(id)+"/loopback", httpapi.LoopbackBody{Enabled: &on}, nil)
}

// AudioStart starts an audio stream (POST /audio/start).
func (c *Client) AudioStart(ctx context.Context, b httpapi.AudioStartBody) (httpapi.AudioStream, error) {
	var st httpapi.AudioStream
	return st, c.Do(ctx, http.MethodPost, "/audio/start", b, &st)
}

// AudioStop stops an audio stream (POST /audio/stop).
func (c *Client) AudioStop(ctx context.Context, streamID string) error {
	return c.Do(ctx, http.MethodPost, "/audio/stop", httpapi.AudioStopBody{StreamID: streamID}, nil)
}

// Forget has the server forget a learned line (DELETE /lines/{id}).
func (c *Client) Forget(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/lines/"+url.PathEscape(id), nil, nil)
}
