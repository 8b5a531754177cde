package audiotest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone/internal/sim"
)

// pollInterval is how often the simulated phone's RTP counters are read to
// time packets. Timers often fire up to a millisecond late, which bounds
// the resolution of the phone's times.
const pollInterval = 250 * time.Microsecond

// phoneSide times the simulated phone's audio: when its packets leave and
// when the server's arrive. The sim records what it receives but not when,
// so a poller notes the time each time its received-sample count grows.
type phoneSide struct {
	phone *sim.Phone

	mu    sync.Mutex // guards marks
	marks []arrival  // received-sample count and when it was first seen

	stop chan struct{}
	done chan struct{}
}

func newPhoneSide(p *sim.Phone) *phoneSide {
	return &phoneSide{phone: p}
}

// startPolling begins timing received packets; stopPolling ends it. Only
// the latency measurements need it, so it does not run the whole call.
func (s *phoneSide) startPolling() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		last := -1
		for {
			n := s.phone.Received(0).Samples
			now := time.Now()
			if n != last {
				last = n
				s.mu.Lock()
				s.marks = append(s.marks, arrival{end: n, at: now})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (s *phoneSide) stopPolling() {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
}

// arrivedAt returns when received sample i (counted from the start of the
// call) was first seen.
func (s *phoneSide) arrivedAt(i int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.marks {
		if m.end > i {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// timed reports whether the arrival of received sample i has been noted.
func (s *phoneSide) timed(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.marks) > 0 && s.marks[len(s.marks)-1].end > i
}

// lastArrival returns when the received count last grew.
func (s *phoneSide) lastArrival() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marks) == 0 {
		return time.Time{}
	}
	return s.marks[len(s.marks)-1].at
}

// count returns how many samples the phone has received in this call.
func (s *phoneSide) count() int { return s.phone.Received(0).Samples }

// received returns the audio the phone received and the call-wide index of
// its first sample. The count is read before and after the copy, and the
// copy retried until they agree, so the index is exact.
func (s *phoneSide) received(ctx context.Context) ([]int16, int, error) {
	for ctx.Err() == nil {
		before := s.phone.Received(0).Samples
		pcm := s.phone.ReceivedAudio(0)
		if after := s.phone.Received(0).Samples; after == before {
			return pcm, before - len(pcm), nil
		}
	}
	return nil, 0, ctx.Err()
}

// sentCount returns how many RTP packets the phone has sent.
func (s *phoneSide) sentCount() int { return s.phone.Received(0).Sent }

// waitSent polls until the phone has sent more than n packets. It returns
// the new count, the last time the count was still n, and when the
// increase was seen: the packet left between the two.
func (s *phoneSide) waitSent(ctx context.Context, n int) (count int, before, seen time.Time, err error) {
	deadline := time.Now().Add(2 * time.Second)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		now := time.Now()
		if m := s.sentCount(); m > n {
			return m, before, now, nil
		}
		before = now
		if now.After(deadline) {
			return n, before, now, fmt.Errorf("the simulated phone sent no RTP for 2 s")
		}
		select {
		case <-ctx.Done():
			return n, before, now, ctx.Err()
		case <-t.C:
		}
	}
}

// packetInterval is the phone's packet clock (ptime 20).
const packetInterval = 20 * time.Millisecond

// maxSlack is the widest acceptable uncertainty of a packet's send time.
const maxSlack = 5 * time.Millisecond

// errUntimed means a marker was sent but its send time is not known well
// enough to measure with (the test process was not scheduled in time).
var errUntimed = errors.New("marker send time uncertain")

// sendMarked plays pcm from the start of one of the phone's packets and
// returns the last time that packet was seen not yet sent: the earliest it
// can have left, so latencies are never under-reported. It waits for a
// packet to go out, then hands over pcm at once, long before the next
// packet is filled, so pcm's first sample is the first of that next packet.
// When the process was too late to tell which packet carries pcm, pcm is
// still sent and errUntimed returned.
func (s *phoneSide) sendMarked(ctx context.Context, pcm []int16) (time.Time, error) {
	var n int
	var before, seen time.Time
	for {
		var err error
		n, before, seen, err = s.waitSent(ctx, s.sentCount())
		if err != nil {
			return time.Time{}, err
		}
		if seen.Sub(before) <= maxSlack {
			break // packet n left within a few ms before now
		}
	}
	s.phone.PlaySamples(0, pcm)
	if time.Since(before) > packetInterval-maxSlack || s.sentCount() != n {
		return time.Time{}, errUntimed // pcm may have gone into packet n+1 or n+2
	}
	_, at, _, err := s.waitSent(ctx, n)
	return at, err
}
