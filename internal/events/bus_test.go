package events

import (
	"testing"

	"github.com/sip-phone-api/sipphone"
)

func TestPublishNumbersStrictlyIncreasing(t *testing.T) {
	b := New(8, 41)
	s, replay := b.Subscribe(Filter{}, 16, nil)
	defer s.Close()
	if len(replay) != 0 {
		t.Fatalf("replay without since = %d events, want 0", len(replay))
	}
	for i := 0; i < 5; i++ {
		b.Publish(sipphone.Event{Type: sipphone.EventDTMF, Line: "a"})
	}
	for want := uint64(42); want < 47; want++ {
		e := <-s.C()
		if e.Seq != want {
			t.Fatalf("seq = %d, want %d", e.Seq, want)
		}
		if e.Timestamp.Time().IsZero() {
			t.Fatalf("event %d has no timestamp", e.Seq)
		}
	}
}

func TestFilter(t *testing.T) {
	cases := []struct {
		name   string
		filter Filter
		event  sipphone.Event
		want   bool
	}{
		{"empty matches all", Filter{}, sipphone.Event{Type: "dtmf", Line: "x"}, true},
		{"type match", Filter{Types: []string{"dtmf"}}, sipphone.Event{Type: "dtmf"}, true},
		{"type mismatch", Filter{Types: []string{"dtmf"}}, sipphone.Event{Type: "off_hook"}, false},
		{"line match", Filter{Lines: []string{"a"}}, sipphone.Event{Type: "dtmf", Line: "a"}, true},
		{"line mismatch", Filter{Lines: []string{"a"}}, sipphone.Event{Type: "dtmf", Line: "b"}, false},
		{"gap always passes", Filter{Types: []string{"dtmf"}, Lines: []string{"a"}}, sipphone.Event{Type: "gap"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.filter.Match(&c.event); got != c.want {
				t.Fatalf("Match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSlowSubscriberIsDroppedOthersUnaffected(t *testing.T) {
	b := New(64, 0)
	slow, _ := b.Subscribe(Filter{}, 2, nil)
	fast, _ := b.Subscribe(Filter{}, 64, nil)
	defer fast.Close()
	for i := 0; i < 10; i++ {
		b.Publish(sipphone.Event{Type: "dtmf"})
	}
	n := 0
	for range slow.C() { // closed after 2 queued events
		n++
	}
	if n != 2 || !slow.Overflowed() {
		t.Fatalf("slow subscriber got %d events, overflowed=%v; want 2, true", n, slow.Overflowed())
	}
	if fast.Len() != 10 {
		t.Fatalf("fast subscriber queue = %d, want 10", fast.Len())
	}
	if b.Subscribers() != 1 {
		t.Fatalf("subscribers = %d, want 1", b.Subscribers())
	}
	slow.Close() // closing a dropped subscription is harmless
}

func TestReplaySince(t *testing.T) {
	b := New(4, 0)
	for i := 0; i < 10; i++ { // seq 1..10, buffer holds 7..10
		b.Publish(sipphone.Event{Type: "dtmf", Line: "a"})
	}
	cases := []struct {
		name    string
		since   uint64
		wantGap [2]uint64
		want    []uint64
	}{
		{"all held", 7, [2]uint64{}, []uint64{8, 9, 10}},
		{"exactly oldest", 6, [2]uint64{}, []uint64{7, 8, 9, 10}},
		{"gap", 2, [2]uint64{3, 6}, []uint64{7, 8, 9, 10}},
		{"up to date", 10, [2]uint64{}, nil},
		{"from the future", 99, [2]uint64{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			since := c.since
			s, replay := b.Subscribe(Filter{}, 8, &since)
			defer s.Close()
			var got []uint64
			for _, e := range replay {
				if e.Type == sipphone.EventGap {
					if e.From != c.wantGap[0] || e.To != c.wantGap[1] {
						t.Fatalf("gap = [%d,%d], want %v", e.From, e.To, c.wantGap)
					}
					continue
				}
				got = append(got, e.Seq)
			}
			if c.wantGap != [2]uint64{} && (len(replay) == 0 || replay[0].Type != sipphone.EventGap) {
				t.Fatalf("no gap event first in %v", replay)
			}
			if len(got) != len(c.want) {
				t.Fatalf("replayed %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("replayed %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestSubscribeThenPublishNothingMissed(t *testing.T) {
	b := New(16, 0)
	b.Publish(sipphone.Event{Type: "dtmf"})
	since := uint64(0)
	s, replay := b.Subscribe(Filter{}, 16, &since)
	defer s.Close()
	b.Publish(sipphone.Event{Type: "dtmf"})
	if len(replay) != 1 || replay[0].Seq != 1 {
		t.Fatalf("replay = %+v, want seq 1", replay)
	}
	if e := <-s.C(); e.Seq != 2 {
		t.Fatalf("live event seq = %d, want 2", e.Seq)
	}
}

func BenchmarkPublish(b *testing.B) {
	bus := New(1024, 0)
	s, _ := bus.Subscribe(Filter{}, 1<<20, nil)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(sipphone.Event{Type: "dtmf", Line: "a"})
		<-s.C()
	}
}
