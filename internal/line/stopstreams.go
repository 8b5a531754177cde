package line

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// endedKeep is how long a stopped stream is remembered, so that a stop of a
// stream that already ended (the call ended, the client went) answers with
// why it ended instead of "not found".
const endedKeep = 10 * time.Minute

// endedLimit bounds the memory of stopped streams.
const endedLimit = 256

type endedStream struct {
	id, line, reason string
	at               time.Time
}

// StoppedStream is one stream a stop request concerned.
type StoppedStream struct {
	StreamID string
	Line     string
	// Reason is "stopped" for a stream stopped now, else why it had
	// already ended (call_ended, client_gone, not_connected, stopped).
	Reason string
	// Already is true when the stream had ended before the request.
	Already bool
}

// rememberEndedLocked records a stopped stream.
func (m *Manager) rememberEndedLocked(id, line, reason string) {
	now := m.now()
	m.ended = slices.DeleteFunc(m.ended, func(e endedStream) bool { return now.Sub(e.at) > endedKeep })
	if len(m.ended) >= endedLimit {
		m.ended = slices.Delete(m.ended, 0, len(m.ended)-endedLimit+1)
	}
	m.ended = append(m.ended, endedStream{id: id, line: line, reason: reason, at: now})
}

// StopStreams stops audio streams, as POST /audio/stop asks: the stream
// streamID if given (a stream that ended in the last minutes is reported
// with the reason it ended), else every stream of lineID if given, else the
// only stream running. It fails with ErrNotFound when nothing matches, and
// ErrInvalid when no stream or line was named and several streams run.
func (m *Manager) StopStreams(streamID, lineID, reason string) ([]StoppedStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stop := func(l *lineState, st *Stream) StoppedStream {
		m.stopStreamLocked(l, st, reason)
		return StoppedStream{StreamID: st.ID, Line: l.id, Reason: reason}
	}
	switch {
	case streamID != "":
		if l := m.streams[streamID]; l != nil {
			return []StoppedStream{stop(l, l.streams[streamID])}, nil
		}
		for i := len(m.ended) - 1; i >= 0; i-- {
			if e := m.ended[i]; e.id == streamID && m.now().Sub(e.at) <= endedKeep {
				return []StoppedStream{{StreamID: e.id, Line: e.line, Reason: e.reason, Already: true}}, nil
			}
		}
		return nil, fmt.Errorf("%w: no audio stream %q (running: %s)", sipphone.ErrNotFound, streamID, m.streamIDsLocked())
	case lineID != "":
		l, err := m.resolve(lineID)
		if err != nil {
			return nil, err
		}
		if len(l.streams) == 0 {
			return nil, fmt.Errorf("%w: line %q has no audio stream", sipphone.ErrNotFound, l.id)
		}
		var out []StoppedStream
		for _, id := range slices.Sorted(maps.Keys(l.streams)) {
			out = append(out, stop(l, l.streams[id]))
		}
		return out, nil
	}
	switch len(m.streams) {
	case 0:
		return nil, fmt.Errorf("%w: no audio stream is running", sipphone.ErrNotFound)
	case 1:
		for id, l := range m.streams {
			return []StoppedStream{stop(l, l.streams[id])}, nil
		}
	}
	return nil, fmt.Errorf("%w: %d audio streams are running (%s); name one with stream_id, or a line with line",
		sipphone.ErrInvalid, len(m.streams), m.streamIDsLocked())
}

func (m *Manager) streamIDsLocked() string {
	if len(m.streams) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m.streams)), ", ")
}
