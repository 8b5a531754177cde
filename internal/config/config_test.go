package config

import (
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// plain strips what DeepEqual should not compare: where values came from.
func plain(c Config) Config {
	c.origin = origin{}
	c.Source = ""
	return c
}

func mustParse(t *testing.T, in, source string) *Config {
	t.Helper()
	c, err := Parse([]byte(in), source)
	if err != nil {
		t.Fatalf("Parse(%q): %v", in, err)
	}
	return c
}

func TestDefaultIsValid(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if got := len(d.HT802.RingPatterns); got != 15 {
		t.Errorf("default ring patterns = %d, want 15", got)
	}
	for name, want := range map[string]string{
		"ring1":        "<http://127.0.0.1>;info=ring1",
		"ring10":       "<http://127.0.0.1>;info=ring10",
		"bellcore-dr1": "<http://127.0.0.1>;info=Bellcore-dr1",
		"bellcore-dr5": "<http://127.0.0.1>;info=Bellcore-dr5",
	} {
		if got := d.HT802.RingPatterns[name]; got != want {
			t.Errorf("RingPatterns[%q] = %q, want %q", name, got, want)
		}
	}
	// Each call returns fresh maps and slices.
	d.HT802.RingPatterns["ring1"] = "changed"
	d.Server.SIPTransports[0] = "changed"
	if e := Default(); e.HT802.RingPatterns["ring1"] == "changed" || e.Server.SIPTransports[0] == "changed" {
		t.Error("Default() shares state between calls")
	}
}

func TestParseOriginalDesign(t *testing.T) {
	data, err := os.ReadFile("testdata/original-design.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "testdata/original-design.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.HT802.Host = AddrList{Entries: []string{"192.168.1.100"}}
	want.HT802.Credentials = Credentials{Username: "phone1", Password: "secret"}
	want.Logging = Logging{
		Level:     "info", // "INFO" in the file, stored lower-case
		Format:    "json",
		Output:    "/var/log/sip_phone/api.log",
		Rotation:  "1 day",
		Retention: "30 days",
	}
	if !reflect.DeepEqual(plain(*c), want) {
		t.Errorf("original design example:\n got %+v\nwant %+v", plain(*c), want)
	}
	if c.Source != "testdata/original-design.yml" {
		t.Errorf("Source = %q", c.Source)
	}
	// Every key means something.
	if period, size := c.Logging.RotationPeriod(); period != 24*time.Hour || size != 0 {
		t.Errorf("RotationPeriod() = %v, %d; want 24h, 0", period, size)
	}
	if got := c.Logging.RetentionPeriod(); got != 30*24*time.Hour {
		t.Errorf("RetentionPeriod() = %v, want 720h", got)
	}
	if got := c.Logging.SlogLevel(); got != slog.LevelInfo {
		t.Errorf("SlogLevel() = %v", got)
	}
	if got := c.Audio.FrameMS(); got != 20 {
		t.Errorf("FrameMS() = %d, want 20", got)
	}
	if got := c.HT802.Host.First(); got != "192.168.1.100" {
		t.Errorf("HT802.Host.First() = %q", got)
	}
}

// exampleFile is the documented example at the repository root.
const exampleFile = "../../config.example.yml"

func TestExampleConfigIsTheDefaults(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, exampleFile)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := plain(*c), Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.example.yml claims the defaults but differs:\n got %+v\nwant %+v", got, want)
	}
	// It documents every key: each key reachable without a list is written
	// in it, and list element keys appear in its commented examples.
	for _, key := range schemaKeys {
		if _, ok := c.origin.lines[key]; !ok {
			t.Errorf("config.example.yml does not set %s", key)
		}
	}
	for _, key := range append(tagNames(reflect.TypeFor[Line]()), tagNames(reflect.TypeFor[Token]())...) {
		if !regexp.MustCompile(`(?m)^\s*#.*\b` + key + `: `).Match(data) {
			t.Errorf("config.example.yml does not show list key %s in a comment", key)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	c.HT802.Host = AddrList{Entries: []string{"192.168.1.100", "10.0.0.0/8"}}
	c.HT802.AuthEnabled = true
	c.HT802.Credentials = Credentials{Username: "phone1", Password: "secret"}
	c.HT802.RingTimeout = Duration(90 * time.Second)
	c.API.Tokens = []Token{{Name: "ha", Token: "0123456789"}}
	c.Lines = []Line{{ID: "kitchen", User: "phone1", AuthUser: "phone1", Password: "secret", DisplayName: "Kitchen"}}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(out), "marshalled")
	if !reflect.DeepEqual(plain(*back), c) {
		t.Errorf("round trip through\n%s\n got %+v\nwant %+v", out, plain(*back), c)
	}
}

func TestMarshalAddrList(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		want    string
	}{
		{"none", nil, "host: null\n"},
		{"one is a scalar", []string{"192.168.1.100"}, "host: 192.168.1.100\n"},
		{"several are a list", []string{"a.lan", "b.lan"}, "host:\n- a.lan\n- b.lan\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := yaml.Marshal(map[string]AddrList{"host": {Entries: tt.entries}})
			if err != nil || string(out) != tt.want {
				t.Errorf("got %q, %v; want %q", out, err, tt.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.HT802.Credentials = Credentials{Username: "phone1", Password: "secret"}
	c.API.Tokens = []Token{{Name: "ha", Token: "very-secret-token"}}
	c.Lines = []Line{{ID: "a", User: "a", Password: "pw"}, {ID: "b", User: "b"}}

	r := c.Redacted()
	if r.HT802.Credentials.Password != "***" || r.API.Tokens[0].Token != "***" || r.Lines[0].Password != "***" {
		t.Errorf("secrets not hidden: %+v %+v %+v", r.HT802.Credentials, r.API.Tokens, r.Lines)
	}
	if r.Lines[1].Password != "" {
		t.Errorf("an empty password must stay visibly empty, got %q", r.Lines[1].Password)
	}
	if r.HT802.Credentials.Username != "phone1" || r.API.Tokens[0].Name != "ha" {
		t.Error("non-secret values changed")
	}
	// The copy is deep: changing it leaves c alone.
	r.HT802.RingPatterns["ring1"] = "x"
	r.Server.SIPTransports[0] = "x"
	r.Lines[0].User = "x"
	if c.HT802.Credentials.Password != "secret" || c.API.Tokens[0].Token != "very-secret-token" ||
		c.Lines[0].Password != "pw" || c.Lines[0].User != "a" ||
		c.HT802.RingPatterns["ring1"] == "x" || c.Server.SIPTransports[0] == "x" {
		t.Error("Redacted modified or shares state with the original")
	}
}

func TestLineDefaultsAndLookup(t *testing.T) {
	c := mustParse(t, `
ht802:
  auth_enabled: true
  credentials: {username: shared, password: pw}
lines:
  - user: phone1
    auth_user: shared
  - user: phone2
    id: hall
    password: own
    display_name: Hall
`, "lines.yml")
	want := []Line{
		{ID: "phone1", User: "phone1", AuthUser: "shared", Password: "pw"},
		{ID: "hall", User: "phone2", AuthUser: "phone2", Password: "own", DisplayName: "Hall"},
	}
	if !reflect.DeepEqual(c.Lines, want) {
		t.Errorf("Lines = %+v, want %+v", c.Lines, want)
	}
	if l, ok := c.LineByUser("phone2"); !ok || l.ID != "hall" {
		t.Errorf("LineByUser(phone2) = %+v, %v", l, ok)
	}
	if _, ok := c.LineByUser("phone3"); ok {
		t.Error("LineByUser(phone3) found a line")
	}
}

func TestFileValuesAreCanonicalised(t *testing.T) {
	c := mustParse(t, `
server: {sip_transports: [UDP]}
audio: {codec: pcma}
logging: {level: WARNING, format: JSON}
`, "")
	if c.Audio.Codec != "PCMA" || c.Logging.Level != "warning" || c.Logging.Format != "json" ||
		!reflect.DeepEqual(c.Server.SIPTransports, []string{"udp"}) {
		t.Errorf("not canonical: codec %q level %q format %q transports %q",
			c.Audio.Codec, c.Logging.Level, c.Logging.Format, c.Server.SIPTransports)
	}
	if c.Logging.SlogLevel() != slog.LevelWarn {
		t.Errorf("SlogLevel() = %v", c.Logging.SlogLevel())
	}
}

func TestRingPatternsAddAndOverride(t *testing.T) {
	c := mustParse(t, `
ht802:
  ring_patterns:
    ring1: "<http://127.0.0.1>;info=ring9"
    doorbell: "<http://127.0.0.1>;info=ring3"
`, "")
	p := c.HT802.RingPatterns
	if p["ring1"] != "<http://127.0.0.1>;info=ring9" || p["doorbell"] != "<http://127.0.0.1>;info=ring3" ||
		p["ring2"] != "<http://127.0.0.1>;info=ring2" || len(p) != 16 {
		t.Errorf("RingPatterns = %v", p)
	}
}

func TestBufferSizeFollowsSampleRate(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		bytes int
		ms    int
	}{
		{"default", "", 320, 20},
		{"16 kHz without buffer_size is 20 ms", "audio: {sample_rate: 16000}", 640, 20},
		{"48 kHz without buffer_size is 20 ms", "audio: {sample_rate: 48000}", 1920, 20},
		{"explicit buffer_size wins", "audio: {sample_rate: 16000, buffer_size: 320}", 320, 10},
		{"buffer_size alone", "audio: {buffer_size: 800}", 800, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.in, "")
			if c.Audio.BufferSize != tt.bytes || c.Audio.FrameMS() != tt.ms {
				t.Errorf("BufferSize %d (%d ms), want %d (%d ms)", c.Audio.BufferSize, c.Audio.FrameMS(), tt.bytes, tt.ms)
			}
		})
	}
}

func TestEffectiveHosts(t *testing.T) {
	s := Server{Host: "0.0.0.0"}
	if s.EffectiveSIPHost() != "0.0.0.0" || s.EffectiveAPIHost() != "0.0.0.0" {
		t.Errorf("without overrides: %q %q", s.EffectiveSIPHost(), s.EffectiveAPIHost())
	}
	s.SIPHost, s.APIHost = "192.168.1.10", "127.0.0.1"
	if s.EffectiveSIPHost() != "192.168.1.10" || s.EffectiveAPIHost() != "127.0.0.1" {
		t.Errorf("with overrides: %q %q", s.EffectiveSIPHost(), s.EffectiveAPIHost())
	}
}

func TestSlogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"Warning": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo,
	} {
		if got := (Logging{Level: in}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestFrameMSWithoutRate(t *testing.T) {
	if got := (Audio{SampleRate: 0, BufferSize: 320}).FrameMS(); got != 0 {
		t.Errorf("FrameMS with no rate = %d", got)
	}
	if got := (Audio{SampleRate: 11025, BufferSize: 320}).FrameMS(); got != 0 {
		t.Errorf("FrameMS with fractional kHz = %d", got)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"file line key", Error{File: "/etc/sip_phone/config.yml", Line: 12, Key: "audio.rtp_port", Msg: "unknown key"},
			"/etc/sip_phone/config.yml:12: audio.rtp_port: unknown key"},
		{"file without line", Error{File: "c.yml", Key: "ht802.credentials", Msg: "m"}, "c.yml: ht802.credentials: m"},
		{"line without file", Error{Line: 3, Key: "k", Msg: "m"}, "line 3: k: m"},
		{"key only", Error{Key: "audio.rtp_ports.min", Msg: "70000 is not a port (1-65535)"},
			"audio.rtp_ports.min: 70000 is not a port (1-65535)"},
		{"message only", Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// errorLines returns the lines of a joined error, "" for nil.
func errorLines(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

func BenchmarkParseOriginalDesign(b *testing.B) {
	data, err := os.ReadFile("testdata/original-design.yml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "original-design.yml"); err != nil {
			b.Fatal(err)
		}
	}
}
