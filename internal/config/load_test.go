package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// envMap is a getenv backed by a map; no test reads the real environment.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the whole joined error text
	}{
		{
			name: "unknown key with line and suggestion",
			in:   "server:\n  sip_port: 5060\naudio:\n  codec: PCMU\n  rtp_port:\n    min: 10000\n",
			want: "c.yml:5: audio.rtp_port: unknown key (did you mean rtp_ports?)",
		},
		{
			name: "unknown key belonging to another section",
			in:   "server:\n  codec: PCMA\n",
			want: "c.yml:2: server.codec: unknown key (did you mean audio.codec?)",
		},
		{
			name: "unknown top-level key without a near name",
			in:   "telephony: {}\n",
			want: "c.yml:1: telephony: unknown key",
		},
		{
			name: "every unknown key is reported",
			in:   "sever: {}\nlogging:\n  levl: debug\nlines:\n  - user: a\n    pasword: x\n",
			want: "c.yml:1: sever: unknown key (did you mean server?)\n" +
				"c.yml:3: logging.levl: unknown key (did you mean level?)\n" +
				"c.yml:6: lines[0].pasword: unknown key (did you mean password?)",
		},
		{
			name: "unknown key inside a merge",
			in:   "audio:\n  rtp_ports:\n    <<: {min: 10000, mux: 1}\n",
			want: `c.yml:3: audio.rtp_ports: unknown key "mux"`,
		},
		{
			name: "wrong type: word for an integer",
			in:   "server:\n  host: 0.0.0.0\n  rest_port: eighty\n",
			want: `c.yml:3: server.rest_port: expected an integer, got string "eighty"`,
		},
		{
			name: "wrong type: fraction for an integer",
			in:   "audio:\n  ptime: 20.5\n",
			want: `c.yml:2: audio.ptime: expected an integer, got float "20.5"`,
		},
		{
			name: "wrong type: integer too large",
			in:   "audio:\n  ptime: 99999999999999999999\n",
			want: "c.yml:2: audio.ptime: 99999999999999999999 is out of range",
		},
		{
			name: "wrong type: string for a boolean",
			in:   "ht802:\n  auth_enabled: yes\n",
			want: `c.yml:2: ht802.auth_enabled: expected true or false, got string "yes"`,
		},
		{
			name: "wrong type: scalar for a section",
			in:   "server: 8000\n",
			want: `c.yml:1: server: expected a mapping, got int "8000"`,
		},
		{
			name: "wrong type: mapping for a list",
			in:   "lines:\n  user: a\n",
			want: "c.yml:2: lines: expected a list, got a mapping",
		},
		{
			name: "wrong type: list for a string",
			in:   "logging:\n  output: [a, b]\n",
			want: "c.yml:2: logging.output: expected a string, got a list",
		},
		{
			name: "number that would change when read as a string",
			in:   "ht802:\n  credentials:\n    username: u\n    password: 0123\n",
			want: `c.yml:4: ht802.credentials.password: 0123 is not read as written; quote it: "0123"`,
		},
		{
			name: "float that would change when read as a string",
			in:   "ht802:\n  realm: 1.50\n",
			want: `c.yml:2: ht802.realm: 1.50 is not read as written; quote it: "1.50"`,
		},
		{
			name: "non-string address",
			in:   "ht802:\n  host: [192.168.1.1, {a: b}]\n",
			want: "c.yml:2: ht802.host[1]: expected an IP address, CIDR or hostname, got a mapping",
		},
		{
			name: "duration given as a list",
			in:   "audio:\n  rtp_timeout: [1]\n",
			want: "c.yml:2: audio.rtp_timeout: expected a duration like 30s, 5m or 2 days, got a list",
		},
		{
			name: "bad duration",
			in:   "ht802:\n  ring_timeout: 3 fortnights\n",
			want: `c.yml:2: ht802.ring_timeout: "3 fortnights" is not a duration: use e.g. 30s, 5m, 12 hours or 2 days`,
		},
		{
			name: "fractional seconds duration",
			in:   "ht802:\n  ring_timeout: 1.5\n",
			want: "c.yml:2: ht802.ring_timeout: 1.5: seconds must be a whole number; use a unit, e.g. 1500ms",
		},
		{
			name: "bad address in a list",
			in:   "ht802:\n  host:\n    - 192.168.1.100\n    - not a host\n",
			want: `c.yml:4: ht802.host[1]: "not a host" is not an IP address, CIDR prefix or hostname`,
		},
		{
			name: "bad CIDR",
			in:   "ht802:\n  host: 192.168.1.0/33\n",
			want: `c.yml:2: ht802.host: "192.168.1.0/33" is not a CIDR prefix like 192.168.1.0/24`,
		},
		{
			name: "duplicate key",
			in:   "server:\n  host: 0.0.0.0\n  host: \"::\"\n",
			want: "c.yml:3: server.host: duplicate key (first written on line 2)",
		},
		{
			name: "two documents",
			in:   "server: {}\n---\naudio: {}\n",
			want: "c.yml:3: only one YAML document is allowed",
		},
		{
			name: "top level is a list",
			in:   "- server\n",
			want: "c.yml:1: expected a mapping of sections (server, ht802, audio, logging, api, lines), got a list",
		},
		{
			name: "syntax error",
			in:   "server:\n  host: [0.0.0.0\n",
			want: "c.yml:2: sequence end token ']' not found",
		},
		{
			name: "validation error carries the line of its key",
			in:   "server:\n  host: 0.0.0.0\naudio:\n  rtp_ports:\n    min: 70000\n",
			want: "c.yml:5: audio.rtp_ports.min: 70000 is not a port (1-65535)",
		},
		{
			name: "validation error on a defaulted key points at the list item",
			in:   "lines:\n  - user: a.b\n",
			want: `c.yml:2: lines[0].id: defaults to user "a.b", which is not a valid id: set id (letters, digits, '-', '_'; at most 32)`,
		},
		{
			name: "several validation errors, in key order",
			in:   "audio:\n  codec: G729\n  ptime: 25\nlogging:\n  level: loud\n",
			want: `c.yml:2: audio.codec: "G729" is not supported (PCMU, PCMA)` + "\n" +
				"c.yml:3: audio.ptime: 25 is not supported (10, 20, 30, 40, 50 or 60 ms)\n" +
				`c.yml:5: logging.level: "loud" is not a level (debug, info, warn, error)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), "c.yml")
			if got := errorLines(err); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			if c != nil {
				t.Error("a failed Parse returned a config")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T does not contain an *Error", err)
			}
		})
	}
}

func TestParseKeepsDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty file", ""},
		{"only comments", "# nothing here\n"},
		{"null document", "~\n"},
		{"empty document marker", "---\n"},
		{"empty sections", "server:\naudio:\n"},
		{"null values", "server:\n  host:\n  sip_port: ~\n"},
		{"empty mappings", "server: {}\nht802: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.in, "c.yml")
			if got := plain(*c); !reflect.DeepEqual(got, Default()) {
				t.Errorf("got %+v, want the defaults", got)
			}
		})
	}
}

func TestParseExplicitZeroOverridesDefault(t *testing.T) {
	c := mustParse(t, "audio:\n  rtp_timeout: 0\n  jitter_buffer_max: 0s\n", "")
	if c.Audio.RTPTimeout != 0 || c.Audio.JitterMax != 0 {
		t.Errorf("explicit zero durations lost: %v %v", c.Audio.RTPTimeout, c.Audio.JitterMax)
	}
}

func TestParseScalarsReadAsStrings(t *testing.T) {
	c := mustParse(t, `
ht802:
  auto_dial: 100
  realm: 1.5
  credentials: {username: true, password: 4711}
`, "")
	h := c.HT802
	if h.AutoDial != "100" || h.Realm != "1.5" || h.Credentials != (Credentials{"true", "4711"}) {
		t.Errorf("got auto_dial %q realm %q credentials %+v", h.AutoDial, h.Realm, h.Credentials)
	}
}

func TestParseAnchorsAndAliases(t *testing.T) {
	c := mustParse(t, `
ht802:
  credentials: {username: phone1, password: &pw "secret"}
lines:
  - user: phone1
    password: *pw
`, "")
	if c.Lines[0].Password != "secret" {
		t.Errorf("alias not resolved: %+v", c.Lines[0])
	}
}

func TestLoadPaths(t *testing.T) {
	good := writeFile(t, "good.yml", "server:\n  sip_port: 5070\n")
	other := writeFile(t, "other.yml", "server:\n  sip_port: 5080\n")
	missing := filepath.Join(t.TempDir(), "missing.yml")

	tests := []struct {
		name        string
		flag        string
		env         map[string]string
		defaultPath string
		wantPort    int
		wantSource  string
		wantErr     string // substring; "" for success
		notExist    bool
	}{
		{name: "flag", flag: good, defaultPath: other, wantPort: 5070, wantSource: good},
		{name: "flag beats SIP_PHONE_CONFIG", flag: good, env: map[string]string{"SIP_PHONE_CONFIG": other}, wantPort: 5070, wantSource: good},
		{name: "SIP_PHONE_CONFIG beats the default path", env: map[string]string{"SIP_PHONE_CONFIG": other}, defaultPath: good, wantPort: 5080, wantSource: other},
		{name: "default path when it exists", defaultPath: good, wantPort: 5070, wantSource: good},
		{name: "built-in defaults when the default path is missing", defaultPath: missing, wantPort: 5060, wantSource: ""},
		{name: "missing flag file is an error", flag: missing, defaultPath: good, wantErr: "read config: open " + missing, notExist: true},
		{name: "missing SIP_PHONE_CONFIG file is an error", env: map[string]string{"SIP_PHONE_CONFIG": missing}, defaultPath: good,
			wantErr: "read config named by SIP_PHONE_CONFIG: open " + missing, notExist: true},
		{name: "directory instead of file", flag: t.TempDir(), wantErr: "read config: read "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setDefaultPath(t, tt.defaultPath)
			c, err := Load(tt.flag, envMap(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				if tt.notExist && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v does not wrap fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.SIPPort != tt.wantPort || c.Source != tt.wantSource {
				t.Errorf("port %d source %q, want %d %q", c.Server.SIPPort, c.Source, tt.wantPort, tt.wantSource)
			}
		})
	}
}

// setDefaultPath points Load's default path at p for one test.
func setDefaultPath(t *testing.T, p string) {
	t.Helper()
	old := defaultPath
	if p == "" {
		p = filepath.Join(t.TempDir(), "none.yml")
	}
	defaultPath = p
	t.Cleanup(func() { defaultPath = old })
}

func TestLoadFileTooLarge(t *testing.T) {
	p := writeFile(t, "big.yml", "# "+strings.Repeat("x", maxFileSize)+"\n")
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error %v, want a size error", err)
	}
}

func TestLoadReportsFileAndEnvProblemsTogether(t *testing.T) {
	p := writeFile(t, "c.yml", "audio:\n  ptime: 25\n")
	_, err := Load(p, envMap(map[string]string{"API_PORT": "http"}))
	want := `server.rest_port: API_PORT="http" is not an integer` + "\n" +
		p + ":2: audio.ptime: 25 is not supported (10, 20, 30, 40, 50 or 60 ms)"
	if got := errorLines(err); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// One flat list of *Error, ready to print one per line.
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) != 2 {
		t.Fatalf("error is not a flat join of 2: %#v", err)
	}
	for _, e := range j.Unwrap() {
		if _, ok := e.(*Error); !ok {
			t.Errorf("%T in the join, want *Error", e)
		}
	}
}

func TestLoadStateFileDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{"XDG_STATE_HOME", map[string]string{"XDG_STATE_HOME": "/xdg", "HOME": "/home/u"}, "", "/xdg/sipphone/state.json"},
		{"relative XDG_STATE_HOME is ignored", map[string]string{"XDG_STATE_HOME": "rel", "HOME": "/home/u"}, "", "/home/u/.local/state/sipphone/state.json"},
		{"HOME", map[string]string{"HOME": "/home/u"}, "", "/home/u/.local/state/sipphone/state.json"},
		{"neither", nil, "", ""},
		{"file wins", map[string]string{"HOME": "/home/u"}, "server: {state_file: /var/lib/sipphone/state.json}", "/var/lib/sipphone/state.json"},
		{"SIP_PHONE_STATE wins", map[string]string{"HOME": "/home/u", "SIP_PHONE_STATE": "/tmp/s.json"}, "server: {state_file: /var/lib/x.json}", "/tmp/s.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setDefaultPath(t, "")
			path := ""
			if tt.file != "" {
				path = writeFile(t, "c.yml", tt.file)
			}
			c, err := Load(path, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.StateFile != tt.want {
				t.Errorf("StateFile = %q, want %q", c.Server.StateFile, tt.want)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *Config) bool
	}{
		{"SIP_SERVER_HOST", map[string]string{"SIP_SERVER_HOST": "192.168.1.10"},
			func(c *Config) bool {
				return c.Server.SIPHost == "192.168.1.10" && c.Server.EffectiveSIPHost() == "192.168.1.10"
			}},
		{"SIP_SERVER_PORT", map[string]string{"SIP_SERVER_PORT": "5070"}, func(c *Config) bool { return c.Server.SIPPort == 5070 }},
		{"API_HOST", map[string]string{"API_HOST": "127.0.0.1"}, func(c *Config) bool { return c.Server.EffectiveAPIHost() == "127.0.0.1" }},
		{"API_PORT", map[string]string{"API_PORT": " 9000 "}, func(c *Config) bool { return c.Server.RESTPort == 9000 }},
		{"WS_PORT", map[string]string{"WS_PORT": "9001"}, func(c *Config) bool { return c.Server.WebSocketPort == 9001 }},
		{"RTP_PORT_MIN and RTP_PORT_MAX", map[string]string{"RTP_PORT_MIN": "30000", "RTP_PORT_MAX": "30099"},
			func(c *Config) bool { return c.Audio.RTPPorts == PortRange{Min: 30000, Max: 30099} }},
		{"LOG_LEVEL is stored lower-case", map[string]string{"LOG_LEVEL": "DEBUG"}, func(c *Config) bool { return c.Logging.Level == "debug" }},
		{"SIP_PHONE_STATE", map[string]string{"SIP_PHONE_STATE": "/data/state.json"}, func(c *Config) bool { return c.Server.StateFile == "/data/state.json" }},
		{"API_TOKEN adds a token named env", map[string]string{"API_TOKEN": "tok-from-env"},
			func(c *Config) bool {
				return reflect.DeepEqual(c.API.Tokens, []Token{{Name: "file", Token: "tok-from-file"}, {Name: "env", Token: "tok-from-env"}})
			}},
		{"empty variables are unset", map[string]string{"SIP_SERVER_PORT": "", "LOG_LEVEL": ""},
			func(c *Config) bool { return c.Server.SIPPort == 5060 && c.Logging.Level == "info" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.API.Tokens = []Token{{Name: "file", Token: "tok-from-file"}}
			if err := c.ApplyEnv(envMap(tt.env)); err != nil {
				t.Fatal(err)
			}
			if !tt.check(&c) {
				t.Errorf("after %v: %+v", tt.env, c)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestApplyEnvReplacesEnvToken(t *testing.T) {
	c := Default()
	c.API.Tokens = []Token{{Name: "env", Token: "old-token"}, {Name: "x", Token: "xxxxxxxxxx"}}
	if err := c.ApplyEnv(envMap(map[string]string{"API_TOKEN": "new-token"})); err != nil {
		t.Fatal(err)
	}
	if len(c.API.Tokens) != 2 || c.API.Tokens[0] != (Token{Name: "env", Token: "new-token"}) {
		t.Errorf("Tokens = %+v", c.API.Tokens)
	}
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"non-numeric port", map[string]string{"SIP_SERVER_PORT": "five"}, `server.sip_port: SIP_SERVER_PORT="five" is not an integer`},
		{"all bad values at once", map[string]string{"API_PORT": "x", "WS_PORT": "1.5", "RTP_PORT_MIN": "-", "RTP_PORT_MAX": "9e9"},
			`server.rest_port: API_PORT="x" is not an integer` + "\n" +
				`server.websocket_port: WS_PORT="1.5" is not an integer` + "\n" +
				`audio.rtp_ports.min: RTP_PORT_MIN="-" is not an integer` + "\n" +
				`audio.rtp_ports.max: RTP_PORT_MAX="9e9" is not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if got := errorLines(c.ApplyEnv(envMap(tt.env))); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEnvValuesAreValidatedNamingTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"port out of range", map[string]string{"SIP_SERVER_PORT": "70000"},
			"server.sip_port: 70000 is not a port (1-65535, or 0 for any free port) (set by SIP_SERVER_PORT)"},
		{"RTP minimum out of range", map[string]string{"RTP_PORT_MIN": "70000"},
			"audio.rtp_ports.min: 70000 is not a port (1-65535) (set by RTP_PORT_MIN)"},
		{"bad level", map[string]string{"LOG_LEVEL": "chatty"},
			`logging.level: "chatty" is not a level (debug, info, warn, error) (set by LOG_LEVEL)`},
		{"bad host", map[string]string{"API_HOST": "not a host"},
			`server.api_host: "not a host" is not an IP address or hostname (set by API_HOST)`},
		{"short token", map[string]string{"API_TOKEN": "short"},
			"api.tokens[0].token: must be at least 8 characters (set by API_TOKEN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "c.yml", "server:\n  sip_port: 5060\naudio:\n  rtp_ports: {min: 10000}\nlogging:\n  level: info\n")
			_, err := Load(p, envMap(tt.env))
			if got := errorLines(err); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDurationKeysInFile(t *testing.T) {
	c := mustParse(t, `
server: {shutdown_timeout: 10}
ht802: {ring_timeout: 2m, nonce_lifetime: "1 hour"}
audio: {jitter_buffer_max: 100ms, rtp_timeout: "1.5 minutes"}
`, "")
	got := []time.Duration{
		time.Duration(c.Server.ShutdownTimeout), time.Duration(c.HT802.RingTimeout), time.Duration(c.HT802.NonceLifetime),
		time.Duration(c.Audio.JitterMax), time.Duration(c.Audio.RTPTimeout),
	}
	want := []time.Duration{10 * time.Second, 2 * time.Minute, time.Hour, 100 * time.Millisecond, 90 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestEditDistanceAndSuggest(t *testing.T) {
	tests := []struct {
		name, key, parent string
		siblings          []string
		want              string
	}{
		{"missing letter", "rtp_port", "audio", tagNames(reflect.TypeFor[Audio]()), "rtp_ports"},
		{"case", "Host", "server", tagNames(reflect.TypeFor[Server]()), "host"},
		{"swap", "hots", "server", tagNames(reflect.TypeFor[Server]()), "host"},
		{"other section", "sample_rate", "server", tagNames(reflect.TypeFor[Server]()), "audio.sample_rate"},
		{"ambiguous elsewhere", "host", "audio", tagNames(reflect.TypeFor[Audio]()), ""},
		{"nothing near", "colour", "audio", tagNames(reflect.TypeFor[Audio]()), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.key, tt.parent, tt.siblings); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}

func TestInbandDTMFCanBeTurnedOff(t *testing.T) {
	if c := mustParse(t, "audio:\n  inband_dtmf: false\n", ""); c.Audio.InbandDTMF {
		t.Fatal("inband_dtmf: false ignored")
	}
	if c := mustParse(t, "audio:\n  codec: PCMA\n", ""); !c.Audio.InbandDTMF {
		t.Fatal("inband_dtmf default lost")
	}
}
