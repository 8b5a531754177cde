package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestGoals(t *testing.T) {
	relay := Result{Target: TargetRelay, Calls: 500, CallsUp: 500, Sent: 250000, Delivered: 250000,
		P99: 2 * time.Millisecond, CPUPerCall: 0.08, Window: 10 * time.Second}
	server := Result{Target: TargetServer, Calls: 500, CallsUp: 500, Sent: 250000, Delivered: 250000,
		P99: 3 * time.Millisecond, CPUPerCall: 0.15, Window: 10 * time.Second}
	with := func(r Result, f func(*Result)) Result { f(&r); return r }
	tests := []struct {
		name                   string
		results                []Result
		delivery, cpu, latency bool
		none                   bool
	}{
		{"all met", []Result{relay, server}, true, true, true, false},
		{"a packet lost", []Result{relay, with(server, func(r *Result) { r.Lost, r.Delivered = 1, 249999 })}, false, true, true, false},
		{"a call failed to set up", []Result{relay, with(server, func(r *Result) { r.CallsUp = 499 })}, false, true, true, false},
		{"CPU over 2x", []Result{relay, with(server, func(r *Result) { r.CPUPerCall = 0.17 })}, true, false, true, false},
		{"CPU exactly 2x", []Result{relay, with(server, func(r *Result) { r.CPUPerCall = 0.16 })}, true, true, true, false},
		{"p99 2.1 ms over", []Result{relay, with(server, func(r *Result) { r.P99 = 4100 * time.Microsecond })}, true, true, false, false},
		{"relay of another network condition", []Result{with(relay, func(r *Result) { r.Impairment.Loss = 0.01 }), server}, false, false, false, true},
		{"relay used no measurable CPU", []Result{with(relay, func(r *Result) { r.CPUPerCall = 0 }), server}, true, false, true, false},
		{"no relay at that number of calls", []Result{with(relay, func(r *Result) { r.Calls = 100 }), server}, false, false, false, true},
		{"server step did not run", []Result{relay, with(server, func(r *Result) { r.Window = 0 })}, false, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs := Goals(tt.results)
			if tt.none {
				if len(gs) != 0 {
					t.Fatalf("Goals = %+v, want none", gs)
				}
				return
			}
			if len(gs) != 1 {
				t.Fatalf("Goals = %+v, want one", gs)
			}
			g := gs[0]
			if g.DeliveryOK != tt.delivery || g.CPUOK != tt.cpu || g.LatencyOK != tt.latency {
				t.Fatalf("delivery %v cpu %v latency %v (ratio %.3f, p99 over %v); want %v %v %v",
					g.DeliveryOK, g.CPUOK, g.LatencyOK, g.CPURatio, g.P99Over, tt.delivery, tt.cpu, tt.latency)
			}
		})
	}
}

func TestImpairedGoals(t *testing.T) {
	imp := Impairment{Jitter: 40 * time.Millisecond, Loss: 0.05}
	relay := Result{Target: TargetRelay, Impairment: imp, Calls: 10, CallsUp: 10, Sent: 5000, Frames: 4750, AudioPercent: 95,
		Stalls: 26, P99: 40 * time.Millisecond, Window: 10 * time.Second}
	server := Result{Target: TargetServer, Impairment: imp, Calls: 10, CallsUp: 10, Sent: 5000, Frames: 5000, AudioPercent: 100,
		P99: 55 * time.Millisecond, Window: 10 * time.Second}
	with := func(r Result, f func(*Result)) Result { f(&r); return r }
	for _, tt := range []struct {
		name   string
		server Result
		ok     bool
	}{
		{"met", server, true},
		{"a stall", with(server, func(r *Result) { r.Stalls = 1 }), false},
		{"audio missing", with(server, func(r *Result) { r.AudioPercent = 99 }), false},
		{"p99 over J + 20 ms", with(server, func(r *Result) { r.P99 = 61 * time.Millisecond }), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gs := Goals([]Result{relay, tt.server})
			if len(gs) != 1 || gs[0].ImpairedOK != tt.ok {
				t.Fatalf("Goals = %+v, want ImpairedOK %v", gs, tt.ok)
			}
			var b bytes.Buffer
			WriteReport(&b, Options{}, []Result{relay, tt.server})
			if !strings.Contains(b.String(), "| 40ms, 5 % | 10 |") {
				t.Fatalf("no impaired row in:\n%s", b.String())
			}
		})
	}
}

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name   string
		counts []uint64
		q      float64
		want   time.Duration
	}{
		{"empty", make([]uint64, 14), 0.99, 0},
		{"all in the first bucket", []uint64{10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0.99, 100 * time.Microsecond},
		{"median in the first, p99 in the 2 ms bucket", []uint64{98, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0.99, 2 * time.Millisecond},
		{"median", []uint64{98, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0.5, 100 * time.Microsecond},
		{"overflow", []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0.99, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := histogramQuantile(tt.counts, tt.q); got != tt.want {
				t.Fatalf("histogramQuantile = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteReportNamesFailuresAndProblems(t *testing.T) {
	rs := []Result{
		{Target: TargetRelay, Calls: 500, CallsUp: 500, Sent: 10, Delivered: 10, P99: time.Millisecond, CPUPerCall: 0.1, Window: time.Second, Attempts: 1},
		{Target: TargetServer, Calls: 500, CallsUp: 498, Sent: 10, Delivered: 9, Lost: 1, P99: 20 * time.Millisecond, CPUPerCall: 0.5,
			Window: time.Second, Attempts: 1, Err: "2 of 500 calls failed to set up; the first: INVITE from load7: answered 503"},
		{Target: TargetServer, Calls: 1000, Err: "server exited"},
	}
	var b bytes.Buffer
	WriteReport(&b, Options{Duration: time.Second}, rs)
	for _, want := range []string{
		"| 500 | server | 498 | 10 | 9 | 1 |",
		"| 1000 | server | 0 |",
		"- server, 500 calls: 2 of 500 calls failed to set up",
		"- server, 1000 calls: server exited",
		"| 500 | 1 | **fail** | 5.00x **fail** | +0.00 | +19.00 **fail** |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
