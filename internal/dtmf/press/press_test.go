package press

import (
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
)

func TestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name string
		p    sipphone.KeyPress
		at   time.Duration // received, after t0
		want bool
	}{
		{"first press", sipphone.KeyPress{Digit: "5", Method: "inband", Start: t0, Duration: ms(100)}, ms(100), true},
		{"same press by rfc4733", sipphone.KeyPress{Digit: "5", Method: "rfc4733", Start: t0.Add(ms(20)), Duration: ms(120)}, ms(140), false},
		{"same press by sip_info, no start", sipphone.KeyPress{Digit: "5", Method: "sip_info", Duration: ms(100)}, ms(150), false},
		{"same method again is a new press", sipphone.KeyPress{Digit: "5", Method: "inband", Start: t0.Add(ms(150)), Duration: ms(80)}, ms(230), true},
		{"other key", sipphone.KeyPress{Digit: "6", Method: "rfc4733", Start: t0.Add(ms(420)), Duration: ms(100)}, ms(520), true},
		{"same key far later by another method", sipphone.KeyPress{Digit: "5", Method: "rfc4733", Start: t0.Add(ms(900)), Duration: ms(100)}, ms(1000), true},
		{"start of a press is not its end", sipphone.KeyPress{Digit: "6", Method: "inband", Begin: true, Start: t0.Add(ms(430))}, ms(470), true},
		{"flash", sipphone.KeyPress{Flash: true, Method: "sip_info"}, ms(1500), true},
		{"flash by rfc4733 too", sipphone.KeyPress{Flash: true, Method: "rfc4733", Duration: ms(200)}, ms(1600), false},
	}
	var l Log
	for _, c := range cases {
		if got := l.First(c.p, t0.Add(c.at)); got != c.want {
			t.Fatalf("%s: First = %v, want %v", c.name, got, c.want)
		}
	}
	if n := len(l.recent); n != 6 {
		t.Fatalf("remembers %d presses, want 6", n)
	}
	l.First(sipphone.KeyPress{Digit: "1", Method: "inband"}, t0.Add(time.Minute))
	if n := len(l.recent); n != 1 {
		t.Fatalf("old presses kept: %d", n)
	}
}

func TestFirstAllocs(t *testing.T) {
	var l Log
	now := time.Now()
	p := sipphone.KeyPress{Digit: "1", Method: "rfc4733", Start: now, Duration: 100 * time.Millisecond}
	l.First(p, now)
	dup := p
	dup.Method = "inband" // the same press by another method: checked, not stored
	if n := testing.AllocsPerRun(100, func() { l.First(dup, now) }); n != 0 {
		t.Fatalf("%v allocations per press", n)
	}
}
