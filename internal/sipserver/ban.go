package sipserver

import (
	"container/list"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Messages of the log lines that deploy/fail2ban/filter.d/sipphone.conf
// matches. Each is logged at Warn with "source" (the request's source,
// IP:PORT as req.Source() gives it) as the first attribute after the
// logger's own (component=sip), and any value the client controls (user,
// auth_user, user_agent) after it:
//
//	msg="SIP authentication failed" component=sip source=192.0.2.7:5060 method=REGISTER user=phone1 auth_user=phone1
//	msg="SIP source banned" component=sip source=192.0.2.7:5060 failures=5 window=1m0s ban=10m0s
//	msg="SIP scanner dropped" component=sip source=192.0.2.7:5060 user_agent=friendly-scanner
const (
	msgAuthFailed = "SIP authentication failed"
	msgBanned     = "SIP source banned"
	msgScanner    = "SIP scanner dropped"
)

// logBanned writes the line for a source that Limiter.Fail just banned.
func logBanned(log *slog.Logger, source string, p BanPolicy) {
	log.Warn(msgBanned, "source", source, "failures", p.MaxFailures, "window", p.Window, "ban", p.BanTime)
}

// BanPolicy says when a source that keeps failing digest authentication is
// banned, and for how long. Zero fields take the defaults of
// DefaultBanPolicy.
type BanPolicy struct {
	// MaxFailures failed authentications within Window ban the source.
	MaxFailures int
	Window      time.Duration
	// BanTime is how long a banned source is ignored.
	BanTime time.Duration
	// MaxSources bounds the sources tracked at once. When the table is
	// full, the source whose last failure is oldest is forgotten first;
	// bans are forgotten only when every entry is a ban, soonest to end
	// first.
	MaxSources int
	// Exempt reports sources that are never banned, e.g. the adapter's
	// own address when ht802.host names it: a LAN attacker can forge the
	// source of a UDP request, and must not get the adapter banned.
	// Failures from exempt sources are not even counted. nil exempts none.
	Exempt func(netip.Addr) bool
}

// DefaultBanPolicy bans a source for 10 minutes after 5 failed
// authentications within a minute, tracking at most 4096 sources.
var DefaultBanPolicy = BanPolicy{MaxFailures: 5, Window: time.Minute, BanTime: 10 * time.Minute, MaxSources: 4096}

func (p BanPolicy) withDefaults() BanPolicy {
	d := DefaultBanPolicy
	if p.MaxFailures <= 0 {
		p.MaxFailures = d.MaxFailures
	}
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.BanTime <= 0 {
		p.BanTime = d.BanTime
	}
	if p.MaxSources <= 0 {
		p.MaxSources = d.MaxSources
	}
	return p
}

// Limiter counts failed authentications per source and bans sources that
// fail too often (the "failed-authentication rate limit" a registrar
// exposed to a network needs against password guessing). IPv4 sources are
// counted per address, IPv6 sources per /64 prefix, since one host usually
// holds a whole /64. Its methods are safe for concurrent use; Banned does
// not allocate.
type Limiter struct {
	policy BanPolicy
	now    func() time.Time

	// mu guards entries, watching and bans. Each entry is in exactly one
	// of the two lists: watching (failures, oldest last failure at the
	// front) or bans (oldest ban, hence soonest to end, at the front).
	mu       sync.Mutex
	entries  map[netip.Addr]*list.Element // of *banEntry
	watching list.List
	bans     list.List
}

type banEntry struct {
	key      netip.Addr
	failures []time.Time // the last MaxFailures failure times, oldest first
	until    time.Time   // set while banned
	banned   bool
}

// NewLimiter returns a limiter for p with the clock now (time.Now when nil).
func NewLimiter(p BanPolicy, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{policy: p.withDefaults(), now: now, entries: map[netip.Addr]*list.Element{}}
}

// Policy returns the limiter's policy with defaults applied, for log lines
// that say how long a ban lasts.
func (l *Limiter) Policy() BanPolicy { return l.policy }

// banKey maps a source to what is counted: the address itself for IPv4
// (IPv4-mapped IPv6 addresses unmapped), its /64 prefix for IPv6.
func banKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Fail records a failed authentication from ip. It reports true when this
// failure bans the source, exactly once per ban, so the caller logs the
// ban once. Failures of a source that is already banned, or exempt, are
// not counted.
func (l *Limiter) Fail(ip netip.Addr) (banned bool) {
	if !ip.IsValid() || (l.policy.Exempt != nil && l.policy.Exempt(ip.Unmap())) {
		return false
	}
	key := banKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.entries[key]
	var e *banEntry
	if el != nil {
		e = el.Value.(*banEntry)
		if e.banned {
			if now.Before(e.until) {
				return false
			}
			l.bans.Remove(el) // the ban is over: count afresh
			e.banned, e.failures = false, e.failures[:0]
			el = l.watching.PushBack(e)
			l.entries[key] = el
		} else {
			l.watching.MoveToBack(el)
		}
	} else {
		l.makeRoom(now)
		e = &banEntry{key: key, failures: make([]time.Time, 0, l.policy.MaxFailures)}
		el = l.watching.PushBack(e)
		l.entries[key] = el
	}
	if len(e.failures) == l.policy.MaxFailures {
		copy(e.failures, e.failures[1:])
		e.failures = e.failures[:len(e.failures)-1]
	}
	e.failures = append(e.failures, now)
	if len(e.failures) < l.policy.MaxFailures || now.Sub(e.failures[0]) > l.policy.Window {
		return false
	}
	l.watching.Remove(el)
	e.banned, e.until, e.failures = true, now.Add(l.policy.BanTime), e.failures[:0]
	l.entries[key] = l.bans.PushBack(e)
	return true
}

// makeRoom forgets entries until a new one fits: ended bans first, then
// the source with the oldest failure, then the ban that ends soonest.
func (l *Limiter) makeRoom(now time.Time) {
	for len(l.entries) >= l.policy.MaxSources {
		if f := l.bans.Front(); f != nil && !now.Before(f.Value.(*banEntry).until) {
			l.forget(&l.bans, f)
			continue
		}
		if f := l.watching.Front(); f != nil {
			l.forget(&l.watching, f)
			continue
		}
		l.forget(&l.bans, l.bans.Front())
	}
}

func (l *Limiter) forget(from *list.List, el *list.Element) {
	delete(l.entries, el.Value.(*banEntry).key)
	from.Remove(el)
}

// Banned reports whether ip is banned now. Requests from a banned source
// are dropped without an answer.
func (l *Limiter) Banned(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	key := banKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.entries[key]
	if el == nil {
		return false
	}
	e := el.Value.(*banEntry)
	if !e.banned {
		return false
	}
	if now.Before(e.until) {
		return true
	}
	l.forget(&l.bans, el)
	return false
}

// Success records a successful authentication from ip: its failures are
// forgotten (a ban in force stays).
func (l *Limiter) Success(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	key := banKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.entries[key]; el != nil && !el.Value.(*banEntry).banned {
		l.forget(&l.watching, el)
	}
}

// Len returns how many sources are tracked (watched or banned).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
