package events

import (
	"testing"

	"github.com/sip-phone-api/sipphone"
)

func TestRestoreReplaysAcrossRestart(t *testing.T) {
	b := New(16, 0)
	for _, typ := range []string{sipphone.EventRegistered, sipphone.EventOffHook, sipphone.EventHangup} {
		b.Publish(sipphone.Event{Type: typ, Line: "l1"})
	}
	kept := b.Recent(2)
	if len(kept) != 2 || kept[0].Type != sipphone.EventOffHook || kept[1].Type != sipphone.EventHangup {
		t.Fatalf("Recent(2) = %+v", kept)
	}

	r := New(16, b.LastSeq()) // the next run
	r.Restore(kept)
	since := uint64(1)
	sub, replay := r.Subscribe(Filter{}, 4, &since)
	defer sub.Close()
	if len(replay) != 2 || replay[0].Type != sipphone.EventOffHook || replay[1].Type != sipphone.EventHangup || replay[1].Seq != 3 {
		t.Fatalf("replay after restart = %+v, want off_hook and hangup", replay)
	}
	if e := r.Publish(sipphone.Event{Type: sipphone.EventOnHook}); e.Seq != 4 {
		t.Fatalf("seq after restore = %d, want 4", e.Seq)
	}
	// Before the kept events: a gap, then the events.
	since = 0
	_, replay = r.Subscribe(Filter{}, 4, &since)
	if len(replay) != 4 || replay[0].Type != sipphone.EventGap || replay[0].From != 1 || replay[0].To != 1 {
		t.Fatalf("replay from 0 = %+v, want a gap for seq 1 then 3 events", replay)
	}
}
