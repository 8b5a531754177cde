// Package events is the event bus: it numbers every event, keeps a bounded
// replay buffer, and fans events out to subscribers without ever blocking the
// publisher. A subscriber whose queue overflows is dropped (its channel is
// closed and Overflowed reports true); it can reconnect and replay what it
// missed by sequence number.
package events

import (
	"slices"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// Filter selects the events a subscriber receives. Empty fields match all.
type Filter struct {
	Types []string
	Lines []string
}

// Match reports whether e passes the filter. Gap and state events always pass.
func (f Filter) Match(e *sipphone.Event) bool {
	if e.Type == sipphone.EventGap || e.Type == sipphone.EventState {
		return true
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if len(f.Lines) > 0 && e.Line != "" && !slices.Contains(f.Lines, e.Line) {
		return false
	}
	return true
}

// Bus numbers and distributes events.
type Bus struct {
	now func() time.Time

	// mu guards seq, replay, head, size and subs. It is never held while a
	// subscriber's goroutine runs; sends to subscribers never block.
	mu     sync.Mutex
	seq    uint64
	replay []sipphone.Event // ring buffer of the last len(replay) events
	head   int              // index of the oldest event in replay
	size   int              // number of valid events in replay
	subs   map[*Subscription]struct{}
}

// New returns a bus that keeps the last replaySize events for replay and
// numbers events from lastSeq+1 (pass the last seq of a previous run so
// numbering stays strictly increasing across restarts).
func New(replaySize int, lastSeq uint64) *Bus {
	if replaySize < 1 {
		replaySize = 1
	}
	return &Bus{
		now:    time.Now,
		seq:    lastSeq,
		replay: make([]sipphone.Event, replaySize),
		subs:   make(map[*Subscription]struct{}),
	}
}

// Publish assigns e the next seq and the current time, records it for replay
// and offers it to every subscriber whose filter matches. It never blocks.
// It returns the event as published.
func (b *Bus) Publish(e sipphone.Event) sipphone.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	e.Timestamp = sipphone.Timestamp(b.now())
	idx := (b.head + b.size) % len(b.replay)
	if b.size == len(b.replay) {
		b.head = (b.head + 1) % len(b.replay)
	} else {
		b.size++
	}
	b.replay[idx] = e
	var shared *sipphone.Event // one copy for every subscriber; nobody changes it
	for s := range b.subs {
		if !s.filter.Match(&e) {
			continue
		}
		if shared == nil {
			shared = new(sipphone.Event)
			*shared = e
		}
		select {
		case s.ch <- shared:
		default:
			s.overflowed = true
			delete(b.subs, s)
			close(s.ch)
		}
	}
	return e
}

// LastSeq returns the seq of the last published event.
func (b *Bus) LastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// Subscription is one subscriber's queue.
type Subscription struct {
	bus    *Bus
	filter Filter
	ch     chan *sipphone.Event
	// overflowed is written under bus.mu before ch is closed, and read after
	// ch is seen closed, so the channel close orders the two.
	overflowed bool
	closeOnce  sync.Once
}

// C returns the queue. It is closed when the subscription ends, either by
// Close or because the subscriber fell queue-length events behind.
func (s *Subscription) C() <-chan *sipphone.Event { return s.ch }

// Overflowed reports whether the bus dropped this subscriber because its
// queue was full. Call it after C is closed.
func (s *Subscription) Overflowed() bool {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.overflowed
}

// Len returns the number of events waiting in the queue.
func (s *Subscription) Len() int { return len(s.ch) }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		b := s.bus
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[s]; ok {
			delete(b.subs, s)
			close(s.ch)
		}
	})
}

// Subscribe registers a subscriber with a queue of queueLen events. When
// since is not nil, the events after seq *since still in the replay buffer
// are returned to be sent first, preceded by a gap event when some of them
// are no longer held. The subscription starts exactly after the last replayed
// (or last published) event: nothing is missed or repeated.
func (b *Bus) Subscribe(f Filter, queueLen int, since *uint64) (*Subscription, []sipphone.Event) {
	if queueLen < 1 {
		queueLen = 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Subscription{bus: b, filter: f, ch: make(chan *sipphone.Event, queueLen)}
	b.subs[s] = struct{}{}
	if since == nil || *since >= b.seq {
		return s, nil
	}
	var out []sipphone.Event
	oldest := b.seq - uint64(b.size) + 1 // seq of the oldest held event
	if b.size == 0 {
		oldest = b.seq + 1
	}
	if *since+1 < oldest {
		out = append(out, sipphone.Event{
			Type:      sipphone.EventGap,
			Seq:       b.seq,
			Timestamp: sipphone.Timestamp(b.now()),
			From:      *since + 1,
			To:        oldest - 1,
		})
	}
	for i := 0; i < b.size; i++ {
		e := b.replay[(b.head+i)%len(b.replay)]
		if e.Seq > *since && f.Match(&e) {
			out = append(out, e)
		}
	}
	return s, out
}

// Subscribers returns the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
