package sipserver

import (
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for limiter tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// banStep is one action of a limiter scenario: advance the clock, then
// record a failure or success from ip, then check Banned for check.
type banStep struct {
	after     time.Duration
	op        string // "fail", "ok" or "" (only check)
	ip        string
	wantBan   bool   // Fail's result
	check     string // address whose Banned state is checked ("" = ip)
	wantCheck bool
}

func TestLimiter(t *testing.T) {
	policy := BanPolicy{MaxFailures: 3, Window: time.Minute, BanTime: 10 * time.Minute, MaxSources: 100}
	const a, b = "192.0.2.1", "192.0.2.2"
	cases := []struct {
		name   string
		policy BanPolicy
		steps  []banStep
	}{
		{"bans at the limit within the window", policy, []banStep{
			{op: "fail", ip: a}, {after: time.Second, op: "fail", ip: a, wantCheck: false},
			{after: time.Second, op: "fail", ip: a, wantBan: true, wantCheck: true},
			{op: "", ip: b, wantCheck: false},
		}},
		{"ban ends after BanTime", policy, []banStep{
			{op: "fail", ip: a}, {op: "fail", ip: a}, {op: "fail", ip: a, wantBan: true, wantCheck: true},
			{after: 10*time.Minute - time.Second, ip: a, wantCheck: true},
			{after: time.Second, ip: a, wantCheck: false},
		}},
		{"failures spread wider than the window do not ban", policy, []banStep{
			{op: "fail", ip: a}, {after: 40 * time.Second, op: "fail", ip: a},
			{after: 40 * time.Second, op: "fail", ip: a, wantBan: false, wantCheck: false},
			{after: 10 * time.Second, op: "fail", ip: a, wantBan: true, wantCheck: true}, // last three within 60 s
		}},
		{"failures while banned are not counted and do not report again", policy, []banStep{
			{op: "fail", ip: a}, {op: "fail", ip: a}, {op: "fail", ip: a, wantBan: true, wantCheck: true},
			{op: "fail", ip: a, wantBan: false, wantCheck: true},
			{after: 10 * time.Minute, op: "fail", ip: a, wantBan: false, wantCheck: false}, // a fresh count
		}},
		{"success forgets failures", policy, []banStep{
			{op: "fail", ip: a}, {op: "fail", ip: a}, {op: "ok", ip: a},
			{op: "fail", ip: a, wantBan: false}, {op: "fail", ip: a, wantBan: false},
			{op: "fail", ip: a, wantBan: true, wantCheck: true},
		}},
		{"success does not lift a ban", policy, []banStep{
			{op: "fail", ip: a}, {op: "fail", ip: a}, {op: "fail", ip: a, wantBan: true, wantCheck: true},
			{op: "ok", ip: a, wantCheck: true},
		}},
		{"IPv6 counted per /64", policy, []banStep{
			{op: "fail", ip: "2001:db8:1:2::1"}, {op: "fail", ip: "2001:db8:1:2::2"},
			{op: "fail", ip: "2001:db8:1:2:ffff::3", wantBan: true, wantCheck: true},
			{ip: "2001:db8:1:2::99", wantCheck: true},
			{ip: "2001:db8:1:3::1", wantCheck: false},
		}},
		{"IPv4-mapped is the IPv4 address", policy, []banStep{
			{op: "fail", ip: "::ffff:192.0.2.1"}, {op: "fail", ip: a},
			{op: "fail", ip: "::ffff:192.0.2.1", wantBan: true, check: a, wantCheck: true},
		}},
		{"exempt source is never banned", BanPolicy{MaxFailures: 1, Exempt: func(ip netip.Addr) bool { return ip == netip.MustParseAddr(a) }},
			[]banStep{
				{op: "fail", ip: a, wantBan: false, wantCheck: false},
				{op: "fail", ip: "::ffff:192.0.2.1", wantBan: false, check: a, wantCheck: false},
				{op: "fail", ip: b, wantBan: true, wantCheck: true},
			}},
		{"defaults: five failures in a minute", BanPolicy{}, []banStep{
			{op: "fail", ip: a}, {op: "fail", ip: a}, {op: "fail", ip: a}, {op: "fail", ip: a, wantBan: false},
			{after: 59 * time.Second, op: "fail", ip: a, wantBan: true, wantCheck: true},
			{after: 10*time.Minute - time.Nanosecond, ip: a, wantCheck: true},
			{after: time.Nanosecond, ip: a, wantCheck: false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newFakeClock()
			l := NewLimiter(c.policy, clock.now)
			for i, s := range c.steps {
				clock.advance(s.after)
				ip := netip.MustParseAddr(s.ip)
				switch s.op {
				case "fail":
					if got := l.Fail(ip); got != s.wantBan {
						t.Fatalf("step %d: Fail(%s) = %v, want %v", i, ip, got, s.wantBan)
					}
				case "ok":
					l.Success(ip)
				}
				check := ip
				if s.check != "" {
					check = netip.MustParseAddr(s.check)
				}
				if got := l.Banned(check); got != s.wantCheck {
					t.Fatalf("step %d: Banned(%s) = %v, want %v", i, check, got, s.wantCheck)
				}
			}
		})
	}
}

func TestLimiterInvalidAddress(t *testing.T) {
	l := NewLimiter(BanPolicy{MaxFailures: 1}, nil)
	if l.Fail(netip.Addr{}) || l.Banned(netip.Addr{}) || l.Len() != 0 {
		t.Fatal("the zero address must be ignored")
	}
	l.Success(netip.Addr{})
}

// TestLimiterBoundedMemory: however many sources fail, at most MaxSources
// are tracked; watched sources are forgotten before bans, and among bans
// the one ending soonest goes first.
func TestLimiterBoundedMemory(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(BanPolicy{MaxFailures: 2, Window: time.Minute, BanTime: time.Hour, MaxSources: 4}, clock.now)
	ban := func(ip netip.Addr) {
		l.Fail(ip)
		if !l.Fail(ip) {
			t.Fatalf("%s not banned", ip)
		}
	}
	b1, b2 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	ban(b1)
	clock.advance(time.Second)
	ban(b2)
	for i := 0; i < 1000; i++ { // a spray of sources failing once
		l.Fail(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
		if l.Len() > 4 {
			t.Fatalf("%d sources tracked, want at most 4", l.Len())
		}
	}
	if !l.Banned(b1) || !l.Banned(b2) {
		t.Fatal("a spray of single failures evicted a ban")
	}
	// Only bans left: a new ban evicts the one ending soonest (b1).
	clock.advance(time.Second)
	b3, b4, b5 := netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("198.51.100.4"), netip.MustParseAddr("198.51.100.5")
	ban(b3)
	ban(b4)
	ban(b5)
	if l.Len() != 4 {
		t.Fatalf("Len = %d, want 4", l.Len())
	}
	if l.Banned(b1) || !l.Banned(b2) || !l.Banned(b5) {
		t.Fatalf("eviction order wrong: b1 %v b2 %v b5 %v", l.Banned(b1), l.Banned(b2), l.Banned(b5))
	}
	// Ended bans are forgotten first.
	clock.advance(time.Hour)
	l.Fail(netip.MustParseAddr("198.51.100.9"))
	if l.Len() > 4 {
		t.Fatalf("Len = %d after bans ended", l.Len())
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(BanPolicy{MaxFailures: 5, MaxSources: 1024}, nil) // room for all 256: no eviction
	var wg sync.WaitGroup
	var bans sync.Map
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 32)})
				if l.Fail(ip) {
					if _, dup := bans.LoadOrStore(ip, true); dup {
						t.Errorf("%s banned twice", ip)
					}
				}
				l.Banned(ip)
				if i%7 == 0 {
					l.Success(ip)
				}
			}
		}()
	}
	wg.Wait()
	if n := l.Len(); n > 256 {
		t.Fatalf("Len = %d > MaxSources", n)
	}
}

// TestLimiterBannedDoesNotAllocate: Banned runs for every request.
func TestLimiterBannedDoesNotAllocate(t *testing.T) {
	l := NewLimiter(BanPolicy{MaxFailures: 1}, nil)
	v4, v6 := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")
	l.Fail(v4)
	if n := testing.AllocsPerRun(1000, func() {
		l.Banned(v4)
		l.Banned(v6)
	}); n != 0 {
		t.Fatalf("Banned allocates %v times per call", n)
	}
}

func BenchmarkLimiterBanned(b *testing.B) {
	l := NewLimiter(BanPolicy{}, nil)
	for i := 0; i < 1000; i++ {
		l.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	ip := netip.MustParseAddr("10.0.1.1")
	b.ReportAllocs()
	for b.Loop() {
		l.Banned(ip)
	}
}

func BenchmarkLimiterFail(b *testing.B) {
	l := NewLimiter(BanPolicy{MaxSources: 4096}, nil)
	ips := make([]netip.Addr, 8192)
	for i := range ips {
		ips[i] = netip.MustParseAddr("10.1." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Fail(ips[i%len(ips)])
		i++
	}
}
