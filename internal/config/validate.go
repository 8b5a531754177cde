package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is one configuration problem. Key is the dotted path of the
// offending key ("audio.rtp_ports.min", "lines[1].user"); File and Line say
// where its value was written when it came from a file.
//
// Load, Parse, ApplyEnv and Validate return errors.Join of *Error values, so
// a caller can print one per line or inspect them with errors.As.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats e as "FILE:LINE: KEY: MSG", leaving out the parts that are
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Validate checks every value and returns all problems joined, each an
// *Error naming its dotted key. It reads only c: hostnames in ht802.host are
// checked for syntax, not resolved.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.server()
	v.tls()
	v.ht802()
	v.audio()
	v.logging()
	v.api()
	v.lines()
	v.bot()
	v.mqtt()
	return errors.Join(v.errs...)
}

// validator collects problems and locates each key at its source.
type validator struct {
	c    *Config
	errs []error
}

// add records a problem with key, locating it in the file or naming the
// environment variable that set it.
func (v *validator) add(key, format string, args ...any) {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	if name, ok := v.c.origin.envFor(key); ok {
		e.Msg += " (set by " + name + ")"
	} else if line := v.c.origin.lineFor(key); line > 0 {
		e.File, e.Line = v.c.Source, line
	} else if v.c.Source != "" && v.c.origin.lines != nil {
		e.File = v.c.Source
	}
	v.errs = append(v.errs, e)
}

// envFor returns the environment variable that set key or one of its
// ancestors.
func (o origin) envFor(key string) (string, bool) {
	for k := key; k != ""; k = parentKey(k) {
		if name, ok := o.env[k]; ok {
			return name, true
		}
	}
	return "", false
}

// lineFor returns the line of key or of its nearest ancestor written in the
// file, 0 when none is.
func (o origin) lineFor(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := o.lines[k]; ok {
			return l
		}
	}
	return 0
}

// parentKey strips the last ".name" or "[i]" from a dotted key.
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

func (v *validator) server() {
	s := v.c.Server
	v.listenHost("server.host", s.Host, true)
	v.listenHost("server.sip_host", s.SIPHost, false)
	v.listenHost("server.api_host", s.APIHost, false)
	v.listenPort("server.sip_port", s.SIPPort)
	v.listenPort("server.rest_port", s.RESTPort)
	v.listenPort("server.websocket_port", s.WebSocketPort)

	tcp := false
	if len(s.SIPTransports) == 0 {
		v.add("server.sip_transports", "at least one transport is required (udp, tcp)")
	}
	seen := map[string]bool{}
	for i, t := range s.SIPTransports {
		key := fmt.Sprintf("server.sip_transports[%d]", i)
		lt := strings.ToLower(t)
		switch lt {
		case "udp":
		case "tcp":
			tcp = true
		default:
			v.add(key, "%q is not a transport (udp, tcp)", t)
			continue
		}
		if seen[lt] {
			v.add(key, "%q is listed twice", t)
		}
		seen[lt] = true
	}
	// SIP over TCP and the HTTP listeners cannot share a port on one address.
	if tcp && s.SIPPort != 0 && hostsOverlap(s.EffectiveSIPHost(), s.EffectiveAPIHost()) {
		if s.RESTPort == s.SIPPort {
			v.add("server.rest_port", "%d is also server.sip_port (SIP over TCP uses it)", s.RESTPort)
		} else if s.WebSocketPort == s.SIPPort {
			v.add("server.websocket_port", "%d is also server.sip_port (SIP over TCP uses it)", s.WebSocketPort)
		}
	}

	if s.AdvertiseAddr != "" {
		a, err := netip.ParseAddr(s.AdvertiseAddr)
		switch {
		case err != nil:
			v.add("server.advertise_address", "%q is not an IP address", s.AdvertiseAddr)
		case a.IsUnspecified() || a.IsMulticast():
			v.add("server.advertise_address", "%s cannot be advertised: peers must be able to send to it", s.AdvertiseAddr)
		}
	}
	if strings.HasSuffix(s.StateFile, "/") || strings.ContainsRune(s.StateFile, 0) {
		v.add("server.state_file", "%q is not a file path", s.StateFile)
	}
	v.durationRange("server.shutdown_timeout", s.ShutdownTimeout, time.Millisecond, 10*time.Minute)
}

// listenHost checks a listen address: an IP or a hostname.
func (v *validator) listenHost(key, h string, required bool) {
	if h == "" {
		if required {
			v.add(key, "required (e.g. 0.0.0.0 for all interfaces)")
		}
		return
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return
	}
	if !isHostname(h) {
		v.add(key, "%q is not an IP address or hostname", h)
	}
}

func (v *validator) listenPort(key string, p int) {
	if p < 0 || p > 65535 {
		v.add(key, "%d is not a port (1-65535, or 0 for any free port)", p)
	}
}

// hostsOverlap reports whether listeners on a and b may collide.
func hostsOverlap(a, b string) bool {
	if a == b {
		return true
	}
	wild := func(h string) bool {
		x, err := netip.ParseAddr(h)
		return h == "" || err == nil && x.IsUnspecified()
	}
	return wild(a) || wild(b)
}

// durationRange checks lo <= d <= hi.
func (v *validator) durationRange(key string, d Duration, lo, hi time.Duration) {
	if time.Duration(d) < lo || time.Duration(d) > hi {
		v.add(key, "%s is out of range (%s to %s)", d, Duration(lo), Duration(hi))
	}
}

func (v *validator) ht802() {
	h := v.c.HT802
	for i, e := range h.Host.Entries {
		key := "ht802.host"
		if len(h.Host.Entries) > 1 {
			key = fmt.Sprintf("ht802.host[%d]", i)
		}
		if err := checkAddrEntry(e); err != nil {
			v.add(key, "%v", err)
		}
	}
	cr := h.Credentials
	if bad := badSIPToken(cr.Username); bad != "" {
		v.add("ht802.credentials.username", "%s", bad)
	}
	if cr.Username != "" && cr.Password == "" {
		v.add("ht802.credentials.password", "required when ht802.credentials.username is set")
	}
	if cr.Username == "" && cr.Password != "" {
		v.add("ht802.credentials.username", "required when ht802.credentials.password is set")
	}
	if h.AuthEnabled && len(v.c.Lines) == 0 && cr.Username == "" {
		v.add("ht802.credentials", "username and password are required when ht802.auth_enabled is true and no lines are configured")
	}
	if h.Realm == "" {
		v.add("ht802.realm", "required")
	} else if strings.ContainsAny(h.Realm, "\"\\") || hasControl(h.Realm) {
		v.add("ht802.realm", "%q may not contain quotes, backslashes or control characters", h.Realm)
	}
	if h.AutoDial != "" && !validDialString(h.AutoDial) {
		v.add("ht802.auto_dial", "%q is not a dial string (digits, letters, * # + . - _; at most 32)", h.AutoDial)
	}
	v.durationRange("ht802.ring_timeout", h.RingTimeout, time.Second, 10*time.Minute)
	v.durationRange("ht802.nonce_lifetime", h.NonceLifetime, 10*time.Second, 24*time.Hour)

	names := make([]string, 0, len(h.RingPatterns))
	for name := range h.RingPatterns {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := "ht802.ring_patterns." + name
		if !validName(name, 32, false) {
			v.add(key, "pattern names use lower-case letters, digits, '-' and '_' (at most 32)")
		}
		val := h.RingPatterns[name]
		switch {
		case strings.TrimSpace(val) == "":
			v.add(key, "an Alert-Info value is required, e.g. <http://127.0.0.1>;info=ring1")
		case hasControl(val):
			v.add(key, "%q may not contain control characters or line breaks", val)
		}
	}

	if h.RegisterMinExpires < 1 || h.RegisterMinExpires > 86400 {
		v.add("ht802.register_min_expires", "%d is out of range (1 to 86400 seconds)", h.RegisterMinExpires)
	}
	if h.RegisterMaxExpires < 1 || h.RegisterMaxExpires > 86400 {
		v.add("ht802.register_max_expires", "%d is out of range (1 to 86400 seconds)", h.RegisterMaxExpires)
	} else if h.RegisterMaxExpires < h.RegisterMinExpires {
		v.add("ht802.register_max_expires", "%d is less than ht802.register_min_expires %d", h.RegisterMaxExpires, h.RegisterMinExpires)
	}
}

func (v *validator) audio() {
	a := v.c.Audio
	switch a.SampleRate {
	case 8000, 16000, 24000, 48000:
	default:
		v.add("audio.sample_rate", "%d is not supported (8000, 16000, 24000, 48000)", a.SampleRate)
	}
	if a.BitDepth != 16 {
		v.add("audio.bit_depth", "%d is not supported: only 16-bit PCM is", a.BitDepth)
	}
	if a.Channels != 1 {
		v.add("audio.channels", "%d is not supported: only mono (1) is", a.Channels)
	}
	if c := strings.ToUpper(a.Codec); c != "PCMU" && c != "PCMA" {
		v.add("audio.codec", "%q is not supported (PCMU, PCMA)", a.Codec)
	}
	if perMS := bytesPerMS(a.SampleRate); perMS > 0 {
		switch {
		case a.BufferSize <= 0 || a.BufferSize%perMS != 0:
			v.add("audio.buffer_size", "%d is not a whole number of milliseconds at %d Hz 16-bit (a multiple of %d bytes)", a.BufferSize, a.SampleRate, perMS)
		case a.BufferSize/perMS < 10 || a.BufferSize/perMS > 1000:
			v.add("audio.buffer_size", "%d bytes is %d ms at %d Hz; it must be 10 to 1000 ms (%d to %d bytes)", a.BufferSize, a.BufferSize/perMS, a.SampleRate, 10*perMS, 1000*perMS)
		}
	}

	r := a.RTPPorts
	minOK, maxOK := v.rtpPort("audio.rtp_ports.min", r.Min), v.rtpPort("audio.rtp_ports.max", r.Max)
	if minOK && maxOK {
		switch {
		case r.Min > r.Max:
			v.add("audio.rtp_ports", "min %d is greater than max %d", r.Min, r.Max)
		case r.Max-r.Min+1 < 2:
			v.add("audio.rtp_ports", "%d-%d has 1 port; at least 2 are needed", r.Min, r.Max)
		case v.c.Server.SIPPort >= r.Min && v.c.Server.SIPPort <= r.Max:
			v.add("audio.rtp_ports", "%d-%d contains server.sip_port %d", r.Min, r.Max, v.c.Server.SIPPort)
		}
	}
	if a.PTime < 10 || a.PTime > 60 || a.PTime%10 != 0 {
		v.add("audio.ptime", "%d is not supported (10, 20, 30, 40, 50 or 60 ms)", a.PTime)
	}
	v.durationRange("audio.jitter_buffer_max", a.JitterMax, 0, 500*time.Millisecond)
	if a.LevelEvents != 0 && (a.LevelEvents < Duration(100*time.Millisecond) || a.LevelEvents > Duration(time.Hour)) {
		v.add("audio.level_events", "%s is outside 100ms-1h (0 turns audio_level events off)", a.LevelEvents)
	}
	if a.RTPTimeout < 0 {
		v.add("audio.rtp_timeout", "%s is negative (0 disables the timeout)", a.RTPTimeout)
	}
}

// rtpPort checks one end of the RTP range and reports whether it is usable.
func (v *validator) rtpPort(key string, p int) bool {
	switch {
	case p < 1 || p > 65535:
		v.add(key, "%d is not a port (1-65535)", p)
	case p < 1024:
		v.add(key, "%d is a privileged port; RTP ports must be 1024-65535", p)
	default:
		return true
	}
	return false
}

func (v *validator) logging() {
	l := v.c.Logging
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		v.add("logging.level", "%q is not a level (debug, info, warn, error)", l.Level)
	}
	switch strings.ToLower(l.Format) {
	case "json", "text":
	default:
		v.add("logging.format", "%q is not a format (json, text)", l.Format)
	}
	if strings.TrimSpace(l.Output) == "" {
		v.add("logging.output", "required: stdout, stderr or a file path")
	}
	if period, size, err := parseRotation(l.Rotation); err != nil {
		v.add("logging.rotation", "%v", err)
	} else if period < 0 || size < 0 || (strings.TrimSpace(l.Rotation) != "" && period == 0 && size == 0) {
		v.add("logging.rotation", "%q must be positive", l.Rotation)
	}
	if strings.TrimSpace(l.Retention) != "" {
		if d, err := parsePeriod(l.Retention); err != nil {
			v.add("logging.retention", "%v", err)
		} else if d <= 0 {
			v.add("logging.retention", "%q must be positive", l.Retention)
		}
	}
}

// minTokenLen is the shortest API token accepted.
const minTokenLen = 8

func (v *validator) api() {
	names := map[string]int{}
	tokens := map[string]int{}
	for i, t := range v.c.API.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		switch {
		case t.Name == "":
			v.add(key+".name", "required")
		case !validName(t.Name, 64, true):
			v.add(key+".name", "%q: use letters, digits, '-' and '_' (at most 64)", t.Name)
		default:
			if j, dup := names[t.Name]; dup {
				v.add(key+".name", "%q is also api.tokens[%d].name", t.Name, j)
			} else {
				names[t.Name] = i
			}
		}
		switch {
		case len(t.Token) < minTokenLen:
			v.add(key+".token", "must be at least %d characters", minTokenLen)
		case strings.ContainsFunc(t.Token, isSpaceOrControl):
			v.add(key+".token", "may not contain spaces or control characters")
		default:
			if j, dup := tokens[t.Token]; dup {
				v.add(key+".token", "is the same as api.tokens[%d].token", j)
			} else {
				tokens[t.Token] = i
			}
		}
	}
	switch v.c.API.Auth {
	case "", "auto", "token", "none":
	default:
		v.add("api.auth", "%q is not one of auto (token required except from loopback), token (required from everyone) or none", v.c.API.Auth)
	}
	if v.c.API.MaxClients < 0 {
		v.add("api.max_clients", "%d: must be 0 (the default, 200) or more", v.c.API.MaxClients)
	}
	if v.c.API.MaxClientsPerAddress < 0 {
		v.add("api.max_clients_per_address", "%d: must be 0 (the default, 32) or more", v.c.API.MaxClientsPerAddress)
	}
	for i, o := range v.c.API.Origins {
		key := fmt.Sprintf("api.allowed_origins[%d]", i)
		if o == "" || strings.ContainsFunc(o, isSpaceOrControl) {
			v.add(key, "%q is not an origin or host pattern", o)
			continue
		}
		if strings.Contains(o, "://") {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				v.add(key, "%q is not an origin like https://home.example.com", o)
			}
		}
	}
}

func (v *validator) lines() {
	ids := map[string]int{}
	users := map[string]int{}
	cr := v.c.HT802.Credentials
	for i, l := range v.c.Lines {
		key := fmt.Sprintf("lines[%d]", i)
		if l.User == "" {
			v.add(key+".user", "required: the port's SIP User ID")
		} else if bad := badSIPUser(l.User); bad != "" {
			v.add(key+".user", "%s", bad)
		} else if j, dup := users[l.User]; dup {
			v.add(key+".user", "%q is also lines[%d].user", l.User, j)
		} else {
			users[l.User] = i
		}

		id := l.ID
		if id == "" {
			id = l.User
		}
		if id != "" {
			if !validName(id, 32, true) {
				what := key + ".id"
				_, explicit := v.c.origin.lines[key+".id"]
				if l.ID == "" || l.ID == l.User && v.c.origin.lines != nil && !explicit {
					v.add(what, "defaults to user %q, which is not a valid id: set id (letters, digits, '-', '_'; at most 32)", l.User)
				} else {
					v.add(what, "%q: use letters, digits, '-' and '_' (at most 32)", l.ID)
				}
			} else if j, dup := ids[strings.ToLower(id)]; dup {
				v.add(key+".id", "%q is also the id of lines[%d]", id, j)
			} else {
				ids[strings.ToLower(id)] = i
			}
		}

		authUser := l.AuthUser
		if authUser == "" {
			authUser = l.User
		}
		if bad := badSIPToken(l.AuthUser); bad != "" {
			v.add(key+".auth_user", "%s", bad)
		}
		password := l.Password
		if password == "" && cr.Username != "" && cr.Username == authUser {
			password = cr.Password
		}
		if v.c.HT802.AuthEnabled && password == "" && l.User != "" {
			v.add(key+".password", "required when ht802.auth_enabled is true (or set ht802.credentials for auth_user %q)", authUser)
		}
		if hasControl(l.DisplayName) {
			v.add(key+".display_name", "may not contain control characters or line breaks")
		}
	}
}

// validName reports whether s is 1..max letters, digits, '-' or '_';
// upper-case letters only when upper is set.
func validName(s string, max int, upper bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || upper && c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validDialString reports whether s can be the user part of the
// Request-URI an adapter dials.
func validDialString(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("*#+.-_", c) >= 0) {
			return false
		}
	}
	return true
}

// sipUserChars are the characters RFC 3261 section 25.1 allows unescaped in
// the user part of a SIP URI besides letters and digits (mark and
// user-unreserved).
const sipUserChars = "-_.!~*'()&=+$,;?/"

// badSIPUser explains why s cannot be a SIP User ID, "" when it can.
func badSIPUser(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q is longer than 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(sipUserChars, c) >= 0) {
			return fmt.Sprintf("%q is not a SIP user name (letters, digits and %s)", s, sipUserChars)
		}
	}
	return ""
}

// badSIPToken explains why s cannot be a digest username, "" when it can
// (including when it is empty).
func badSIPToken(s string) string {
	if len(s) > 128 {
		return fmt.Sprintf("%q is longer than 128 characters", s)
	}
	if strings.ContainsAny(s, "\"\\") || strings.ContainsFunc(s, isSpaceOrControl) {
		return fmt.Sprintf("%q may not contain quotes, backslashes, spaces or control characters", s)
	}
	return ""
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// joinErrors flattens nested joins so the result is one flat errors.Join.
func joinErrors(errs ...error) error {
	var flat []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
			continue
		}
		flat = append(flat, err)
	}
	return errors.Join(flat...)
}
