package app

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// TestSlowClientDroppedOthersUnaffected: a client that stops reading is
// disconnected once its queue overflows, while a reading client receives
// every event, in order, and publishing never blocks.
func TestSlowClientDroppedOthersUnaffected(t *testing.T) {
	s := startServer(t, "", "")
	fast := s.events("?types=registered")
	slow := s.events("?types=registered")
	s.waitFor("both subscribed", func() bool { return s.Bus.Subscribers() == 2 })

	const n, batch = 60000, 100
	done := make(chan struct{})
	caughtUp := make(chan struct{}, 1)
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if i > 0 && i%batch == 0 {
				<-caughtUp // pace like real traffic: the fast client keeps up
			}
			// Each new contact is a fresh registration: one event each.
			r := sipphone.Registration{Contact: "sip:p@10.0.0.2:" + itoa(1000+i%60000), Source: "10.0.0.2:5060", Expires: time.Now().Add(time.Hour)}
			r.Source = r.Contact
			s.Lines.Register("phone1", r)
		}
	}()
	var last uint64
	for i := 0; i < n; i++ {
		e := fast.next(20 * time.Second)
		if e.Seq <= last {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		if (i+1)%batch == 0 {
			caughtUp <- struct{}{}
		}
	}
	<-done
	s.waitFor("slow client dropped", func() bool { return s.Bus.Subscribers() == 1 })
	// The slow client finds the frames that were buffered, then the end of
	// the connection (a 1008 close when it could still be delivered).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := 0
	for {
		if _, _, err := slow.c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("slow client still connected after %d events", got)
			}
			break
		}
		got++
	}
	if got >= n {
		t.Fatalf("slow client received all %d events; it was never dropped", got)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
