package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
)

// Event stream policy, documented in the README.
const (
	defaultEventQueue = 256              // events a client may fall behind before it is dropped
	writeTimeout      = 5 * time.Second  // a client that cannot take a frame this long is dropped
	pingInterval      = 20 * time.Second // liveness check of idle clients
	eventsReadLimit   = 4096             // largest frame a client may send on /ws
)

// NewWS returns the WebSocket handler (port 8001): /ws streams events.
func NewWS(d Deps) http.Handler {
	if d.EventQueue <= 0 {
		d.EventQueue = defaultEventQueue
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	wsRoutes(mux, d)
	return problemErrors(mux)
}

// problem writes an RFC 9457 problem before a WebSocket upgrade.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

// knownLines lists the line ids for error messages.
func knownLines(d Deps) string {
	var ids []string
	for _, l := range d.Lines.Status() {
		ids = append(ids, l.ID)
	}
	if len(ids) == 0 {
		return "none yet"
	}
	return strings.Join(ids, ", ")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// eventsWS streams events: first a state snapshot (or, with ?since=SEQ, the
// events missed since SEQ, with a gap event if some are gone), then each
// event as one JSON text frame. Filters: ?types=a,b&line=x,y.
func eventsWS(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := events.Filter{Types: splitList(q.Get("types")), Lines: splitList(q.Get("line"))}
		for _, t := range f.Types {
			if !slices.Contains(sipphone.EventTypes, t) {
				problem(w, http.StatusBadRequest, fmt.Sprintf("unknown event type %q in types; known: %s", t, strings.Join(sipphone.EventTypes, ", ")))
				return
			}
		}
		for _, l := range f.Lines {
			if _, err := d.Lines.Line(l); err != nil {
				problem(w, http.StatusBadRequest, fmt.Sprintf("unknown line %q in line; known lines: %s", l, knownLines(d)))
				return
			}
		}
		var since *uint64
		if v := q.Get("since"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				problem(w, http.StatusBadRequest, "since must be the seq number of the last event received")
				return
			}
			since = &n
		}
		release, ok := d.Clients.admit(w, r)
		if !ok {
			return
		}
		defer release()
		c, err := d.acceptWS(w, r)
		if err != nil {
			return // Accept has answered
		}
		defer c.CloseNow()
		log := d.Logger.With("component", "ws", "peer", r.RemoteAddr)
		sub, snap, replay := d.Lines.Subscribe(f, d.EventQueue, since)
		defer sub.Close()
		if len(f.Lines) > 0 { // the snapshot obeys the line filter too
			snap.Lines = slices.DeleteFunc(snap.Lines, func(s sipphone.LineStatus) bool { return !slices.Contains(f.Lines, s.ID) })
		}
		// Clients send nothing on this socket; a reader is still needed to
		// answer pings and see the close. Anything sent is discarded, and a
		// frame over the limit closes the connection with 1009.
		c.SetReadLimit(eventsReadLimit)
		ctx, cancel := context.WithCancel(r.Context())
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			defer cancel()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
		defer func() {
			cancel()
			c.CloseNow()
			<-readDone
		}()
		log.Debug("event client connected", "types", f.Types, "lines", f.Lines)
		defer d.Clients.add(ClientInfo{Kind: "events", Peer: r.RemoteAddr, Since: time.Now(), Types: f.Types, Lines: f.Lines},
			sub.Len, nil)()

		send := func(e *sipphone.Event) error {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			defer cancel()
			return c.Write(wctx, websocket.MessageText, b)
		}
		if since == nil {
			if err := send(&snap); err != nil {
				return
			}
		}
		for i := range replay {
			if err := send(&replay[i]); err != nil {
				return
			}
		}
		ping := time.NewTicker(pingInterval)
		defer ping.Stop()
		for {
			select {
			case e, ok := <-sub.C():
				if !ok {
					if sub.Overflowed() {
						if d.Clients != nil {
							d.Clients.Dropped.Add(1)
						}
						log.Warn("event client too slow; disconnected", "queue", d.EventQueue)
						c.Close(websocket.StatusPolicyViolation, "event queue overflowed; reconnect with ?since=<last seq>")
					}
					return
				}
				if err := send(e); err != nil {
					if errors.Is(err, context.DeadlineExceeded) || sub.Overflowed() {
						// Not reading: dropped like an overflowing client.
						if d.Clients != nil {
							d.Clients.Dropped.Add(1)
						}
						log.Warn("event client too slow; disconnected", "write_timeout", writeTimeout)
						return
					}
					log.Debug("event client write failed", "err", err)
					return
				}
			case <-ping.C:
				pctx, cancel := context.WithTimeout(ctx, writeTimeout)
				err := c.Ping(pctx)
				cancel()
				if err != nil {
					return
				}
			case <-d.Shutdown:
				// The line owner published the last events (hangup
				// {reason: shutdown}) before the shutdown signal: deliver
				// what is queued, then say goodbye.
				for flushing := true; flushing; {
					select {
					case e, ok := <-sub.C():
						if !ok || send(e) != nil {
							flushing = false
						}
					default:
						flushing = false
					}
				}
				c.Close(websocket.StatusGoingAway, "server shutting down")
				return
			case <-ctx.Done():
				return
			}
		}
	}
}
