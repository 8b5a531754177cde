package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // whole joined error; "" for valid
	}{
		// server
		{"server.host required", func(c *Config) { c.Server.Host = "" }, "server.host: required (e.g. 0.0.0.0 for all interfaces)"},
		{"server.host IPv6 wildcard", func(c *Config) { c.Server.Host = "::" }, ""},
		{"server.host hostname", func(c *Config) { c.Server.Host = "localhost" }, ""},
		{"server.host garbage", func(c *Config) { c.Server.Host = "0.0.0.0:5060" }, `server.host: "0.0.0.0:5060" is not an IP address or hostname`},
		{"server.sip_host bad", func(c *Config) { c.Server.SIPHost = "a b" }, `server.sip_host: "a b" is not an IP address or hostname`},
		{"server.api_host bad", func(c *Config) { c.Server.APIHost = "-x" }, `server.api_host: "-x" is not an IP address or hostname`},
		{"server.sip_port too big", func(c *Config) { c.Server.SIPPort = 65536 }, "server.sip_port: 65536 is not a port (1-65535, or 0 for any free port)"},
		{"server.rest_port negative", func(c *Config) { c.Server.RESTPort = -1 }, "server.rest_port: -1 is not a port (1-65535, or 0 for any free port)"},
		{"server.websocket_port too big", func(c *Config) { c.Server.WebSocketPort = 70000 }, "server.websocket_port: 70000 is not a port (1-65535, or 0 for any free port)"},
		{"ports 0 pick free ports", func(c *Config) { c.Server.SIPPort, c.Server.RESTPort, c.Server.WebSocketPort = 0, 0, 0 }, ""},
		{"websocket shares the REST listener", func(c *Config) { c.Server.WebSocketPort = c.Server.RESTPort }, ""},
		{"rest_port is the SIP TCP port", func(c *Config) { c.Server.RESTPort = 5060 }, "server.rest_port: 5060 is also server.sip_port (SIP over TCP uses it)"},
		{"websocket_port is the SIP TCP port", func(c *Config) { c.Server.WebSocketPort = 5060 }, "server.websocket_port: 5060 is also server.sip_port (SIP over TCP uses it)"},
		{"same port over UDP only is fine", func(c *Config) { c.Server.RESTPort = 5060; c.Server.SIPTransports = []string{"udp"} }, ""},
		{"same port on different addresses is fine", func(c *Config) {
			c.Server.RESTPort = 5060
			c.Server.SIPHost, c.Server.APIHost = "192.168.1.10", "127.0.0.1"
		}, ""},
		{"sip_transports empty", func(c *Config) { c.Server.SIPTransports = nil }, "server.sip_transports: at least one transport is required (udp, tcp)"},
		{"sip_transports unknown", func(c *Config) { c.Server.SIPTransports = []string{"udp", "tls"} }, `server.sip_transports[1]: "tls" is not a transport (udp, tcp)`},
		{"sip_transports twice", func(c *Config) { c.Server.SIPTransports = []string{"udp", "UDP"} }, `server.sip_transports[1]: "UDP" is listed twice`},
		{"advertise_address IP", func(c *Config) { c.Server.AdvertiseAddr = "192.168.1.10" }, ""},
		{"advertise_address hostname", func(c *Config) { c.Server.AdvertiseAddr = "pi.lan" }, `server.advertise_address: "pi.lan" is not an IP address`},
		{"advertise_address wildcard", func(c *Config) { c.Server.AdvertiseAddr = "0.0.0.0" }, "server.advertise_address: 0.0.0.0 cannot be advertised: peers must be able to send to it"},
		{"state_file directory", func(c *Config) { c.Server.StateFile = "/var/lib/" }, `server.state_file: "/var/lib/" is not a file path`},
		{"shutdown_timeout zero", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "server.shutdown_timeout: 0s is out of range (1ms to 10m)"},
		{"shutdown_timeout huge", func(c *Config) { c.Server.ShutdownTimeout = Duration(time.Hour) }, "server.shutdown_timeout: 1h is out of range (1ms to 10m)"},

		// ht802
		{"ht802.host list", func(c *Config) {
			c.HT802.Host.Entries = []string{"192.168.1.100", "10.0.0.0/8", "ht802.lan", "fe80::1"}
		}, ""},
		{"ht802.host bad entry", func(c *Config) { c.HT802.Host.Entries = []string{"a", "1.2.3"} }, `ht802.host[1]: "1.2.3" is not an IP address, CIDR prefix or hostname`},
		{"ht802.host single bad entry", func(c *Config) { c.HT802.Host.Entries = []string{"x_y"} }, `ht802.host: "x_y" is not an IP address, CIDR prefix or hostname`},
		{"credentials username without password", func(c *Config) { c.HT802.Credentials.Username = "u" }, "ht802.credentials.password: required when ht802.credentials.username is set"},
		{"credentials password without username", func(c *Config) { c.HT802.Credentials.Password = "p" }, "ht802.credentials.username: required when ht802.credentials.password is set"},
		{"credentials username with a space", func(c *Config) { c.HT802.Credentials = Credentials{"a b", "p"} },
			`ht802.credentials.username: "a b" may not contain quotes, backslashes, spaces or control characters`},
		{"auth without lines needs credentials", func(c *Config) { c.HT802.AuthEnabled = true },
			"ht802.credentials: username and password are required when ht802.auth_enabled is true and no lines are configured"},
		{"auth with shared credentials", func(c *Config) { c.HT802.AuthEnabled = true; c.HT802.Credentials = Credentials{"phone1", "secret"} }, ""},
		{"auth with a line lacking a password", func(c *Config) {
			c.HT802.AuthEnabled = true
			c.HT802.Credentials = Credentials{"phone1", "secret"}
			c.Lines = []Line{{User: "phone1"}, {User: "phone2"}}
		}, `lines[1].password: required when ht802.auth_enabled is true (or set ht802.credentials for auth_user "phone2")`},
		{"realm empty", func(c *Config) { c.HT802.Realm = "" }, "ht802.realm: required"},
		{"realm with a quote", func(c *Config) { c.HT802.Realm = `a"b` }, `ht802.realm: "a\"b" may not contain quotes, backslashes or control characters`},
		{"auto_dial empty disables it", func(c *Config) { c.HT802.AutoDial = "" }, ""},
		{"auto_dial direct IP call", func(c *Config) { c.HT802.AutoDial = "*47192*168*1*10*5060" }, ""},
		{"auto_dial with a space", func(c *Config) { c.HT802.AutoDial = "1 00" }, `ht802.auto_dial: "1 00" is not a dial string (digits, letters, * # + . - _; at most 32)`},
		{"ring_timeout zero", func(c *Config) { c.HT802.RingTimeout = 0 }, "ht802.ring_timeout: 0s is out of range (1s to 10m)"},
		{"nonce_lifetime short", func(c *Config) { c.HT802.NonceLifetime = Duration(time.Second) }, "ht802.nonce_lifetime: 1s is out of range (10s to 24h)"},
		{"ring pattern upper-case name", func(c *Config) { c.HT802.RingPatterns["Door"] = "<x>" },
			"ht802.ring_patterns.Door: pattern names use lower-case letters, digits, '-' and '_' (at most 32)"},
		{"ring pattern empty value", func(c *Config) { c.HT802.RingPatterns["door"] = " " },
			"ht802.ring_patterns.door: an Alert-Info value is required, e.g. <http://127.0.0.1>;info=ring1"},
		{"ring pattern header injection", func(c *Config) { c.HT802.RingPatterns["door"] = "<x>\r\nX: y" },
			`ht802.ring_patterns.door: "<x>\r\nX: y" may not contain control characters or line breaks`},
		{"register_min_expires zero", func(c *Config) { c.HT802.RegisterMinExpires = 0 }, "ht802.register_min_expires: 0 is out of range (1 to 86400 seconds)"},
		{"register_max_expires huge", func(c *Config) { c.HT802.RegisterMaxExpires = 100000 }, "ht802.register_max_expires: 100000 is out of range (1 to 86400 seconds)"},
		{"register_max below min", func(c *Config) { c.HT802.RegisterMaxExpires = 30 }, "ht802.register_max_expires: 30 is less than ht802.register_min_expires 60"},

		// audio
		{"sample_rate unsupported", func(c *Config) { c.Audio.SampleRate = 44100 }, "audio.sample_rate: 44100 is not supported (8000, 16000, 24000, 48000)"},
		{"sample_rate 48000 with 20 ms", func(c *Config) { c.Audio.SampleRate, c.Audio.BufferSize = 48000, 1920 }, ""},
		{"bit_depth", func(c *Config) { c.Audio.BitDepth = 8 }, "audio.bit_depth: 8 is not supported: only 16-bit PCM is"},
		{"channels", func(c *Config) { c.Audio.Channels = 2 }, "audio.channels: 2 is not supported: only mono (1) is"},
		{"codec lower-case accepted", func(c *Config) { c.Audio.Codec = "pcma" }, ""},
		{"codec unsupported", func(c *Config) { c.Audio.Codec = "opus" }, `audio.codec: "opus" is not supported (PCMU, PCMA)`},
		{"buffer_size not whole ms", func(c *Config) { c.Audio.BufferSize = 330 },
			"audio.buffer_size: 330 is not a whole number of milliseconds at 8000 Hz 16-bit (a multiple of 16 bytes)"},
		{"buffer_size too small", func(c *Config) { c.Audio.BufferSize = 144 },
			"audio.buffer_size: 144 bytes is 9 ms at 8000 Hz; it must be 10 to 1000 ms (160 to 16000 bytes)"},
		{"buffer_size too large", func(c *Config) { c.Audio.BufferSize = 16016 },
			"audio.buffer_size: 16016 bytes is 1001 ms at 8000 Hz; it must be 10 to 1000 ms (160 to 16000 bytes)"},
		{"buffer_size zero", func(c *Config) { c.Audio.BufferSize = 0 },
			"audio.buffer_size: 0 is not a whole number of milliseconds at 8000 Hz 16-bit (a multiple of 16 bytes)"},
		{"rtp_ports.min not a port", func(c *Config) { c.Audio.RTPPorts.Min = 70000 }, "audio.rtp_ports.min: 70000 is not a port (1-65535)"},
		{"rtp_ports.max not a port", func(c *Config) { c.Audio.RTPPorts.Max = 0 }, "audio.rtp_ports.max: 0 is not a port (1-65535)"},
		{"rtp_ports.min privileged", func(c *Config) { c.Audio.RTPPorts.Min = 1000 }, "audio.rtp_ports.min: 1000 is a privileged port; RTP ports must be 1024-65535"},
		{"rtp_ports reversed", func(c *Config) { c.Audio.RTPPorts = PortRange{20000, 10000} }, "audio.rtp_ports: min 20000 is greater than max 10000"},
		{"rtp_ports one port", func(c *Config) { c.Audio.RTPPorts = PortRange{10000, 10000} }, "audio.rtp_ports: 10000-10000 has 1 port; at least 2 are needed"},
		{"rtp_ports two ports", func(c *Config) { c.Audio.RTPPorts = PortRange{10000, 10001} }, ""},
		{"rtp_ports contain the SIP port", func(c *Config) { c.Audio.RTPPorts = PortRange{5000, 6000} }, "audio.rtp_ports: 5000-6000 contains server.sip_port 5060"},
		{"ptime not a multiple of 10", func(c *Config) { c.Audio.PTime = 25 }, "audio.ptime: 25 is not supported (10, 20, 30, 40, 50 or 60 ms)"},
		{"ptime too long", func(c *Config) { c.Audio.PTime = 70 }, "audio.ptime: 70 is not supported (10, 20, 30, 40, 50 or 60 ms)"},
		{"jitter_buffer_max zero", func(c *Config) { c.Audio.JitterMax = 0 }, ""},
		{"jitter_buffer_max too deep", func(c *Config) { c.Audio.JitterMax = Duration(time.Second) }, "audio.jitter_buffer_max: 1s is out of range (0s to 500ms)"},
		{"rtp_timeout zero disables", func(c *Config) { c.Audio.RTPTimeout = 0 }, ""},
		{"level_events off", func(c *Config) { c.Audio.LevelEvents = 0 }, ""},
		{"level_events 1s", func(c *Config) { c.Audio.LevelEvents = Duration(time.Second) }, ""},
		{"level_events too fast", func(c *Config) { c.Audio.LevelEvents = Duration(10 * time.Millisecond) }, "audio.level_events: 10ms is outside 100ms-1h (0 turns audio_level events off)"},
		{"rtp_timeout negative", func(c *Config) { c.Audio.RTPTimeout = Duration(-time.Second) }, "audio.rtp_timeout: -1s is negative (0 disables the timeout)"},

		// logging
		{"level warning", func(c *Config) { c.Logging.Level = "WARNING" }, ""},
		{"level unknown", func(c *Config) { c.Logging.Level = "trace" }, `logging.level: "trace" is not a level (debug, info, warn, error)`},
		{"format unknown", func(c *Config) { c.Logging.Format = "xml" }, `logging.format: "xml" is not a format (json, text)`},
		{"output empty", func(c *Config) { c.Logging.Output = "" }, "logging.output: required: stdout, stderr or a file path"},
		{"rotation period", func(c *Config) { c.Logging.Rotation = "12 hours" }, ""},
		{"rotation size", func(c *Config) { c.Logging.Rotation = "10 MiB" }, ""},
		{"rotation garbage", func(c *Config) { c.Logging.Rotation = "often" },
			`logging.rotation: "often" is neither a period (1 day, 12 hours, 1h) nor a size (100MB, 10 MiB)`},
		{"rotation zero", func(c *Config) { c.Logging.Rotation = "0 days" }, `logging.rotation: "0 days" must be positive`},
		{"rotation negative size", func(c *Config) { c.Logging.Rotation = "-5MB" }, `logging.rotation: "-5MB" must be positive`},
		{"retention garbage", func(c *Config) { c.Logging.Retention = "forever" },
			`logging.retention: "forever" is not a duration: use e.g. 30s, 5m, 12 hours or 2 days`},
		{"retention negative", func(c *Config) { c.Logging.Retention = "-1 day" }, `logging.retention: "-1 day" must be positive`},

		// api
		{"token ok", func(c *Config) { c.API.Tokens = []Token{{"home-assistant", "0123456789abcdef"}} }, ""},
		{"token name missing", func(c *Config) { c.API.Tokens = []Token{{"", "0123456789abcdef"}} }, "api.tokens[0].name: required"},
		{"token name bad", func(c *Config) { c.API.Tokens = []Token{{"a b", "0123456789abcdef"}} }, `api.tokens[0].name: "a b": use letters, digits, '-' and '_' (at most 64)`},
		{"token names repeated", func(c *Config) { c.API.Tokens = []Token{{"a", "0123456789"}, {"a", "abcdefghij"}} }, `api.tokens[1].name: "a" is also api.tokens[0].name`},
		{"token short", func(c *Config) { c.API.Tokens = []Token{{"a", "1234567"}} }, "api.tokens[0].token: must be at least 8 characters"},
		{"token with a space", func(c *Config) { c.API.Tokens = []Token{{"a", "1234 5678"}} }, "api.tokens[0].token: may not contain spaces or control characters"},
		{"token repeated", func(c *Config) { c.API.Tokens = []Token{{"a", "0123456789"}, {"b", "0123456789"}} }, "api.tokens[1].token: is the same as api.tokens[0].token"},
		{"origins ok", func(c *Config) {
			c.API.Origins = []string{"https://ha.example.com", "http://192.168.1.5:8123", "*.example.com", "*"}
		}, ""},
		{"origin with a path", func(c *Config) { c.API.Origins = []string{"https://ha.example.com/x"} }, `api.allowed_origins[0]: "https://ha.example.com/x" is not an origin like https://home.example.com`},
		{"origin with another scheme", func(c *Config) { c.API.Origins = []string{"ok.com", "ftp://x"} }, `api.allowed_origins[1]: "ftp://x" is not an origin like https://home.example.com`},
		{"origin empty", func(c *Config) { c.API.Origins = []string{""} }, `api.allowed_origins[0]: "" is not an origin or host pattern`},

		// lines
		{"lines ok", func(c *Config) {
			c.Lines = []Line{{ID: "kitchen", User: "phone1"}, {User: "phone2", AuthUser: "p2", Password: "x", DisplayName: "Hall"}}
		}, ""},
		{"line user required", func(c *Config) { c.Lines = []Line{{ID: "a"}} }, "lines[0].user: required: the port's SIP User ID"},
		{"line user bad characters", func(c *Config) { c.Lines = []Line{{ID: "a", User: "a@b"}} },
			`lines[0].user: "a@b" is not a SIP user name (letters, digits and -_.!~*'()&=+$,;?/)`},
		{"line user repeated", func(c *Config) { c.Lines = []Line{{User: "a"}, {ID: "b", User: "a"}} }, `lines[1].user: "a" is also lines[0].user`},
		{"line id repeated ignoring case", func(c *Config) { c.Lines = []Line{{ID: "Hall", User: "a"}, {ID: "hall", User: "b"}} }, `lines[1].id: "hall" is also the id of lines[0]`},
		{"line id defaulted from user repeats an id", func(c *Config) { c.Lines = []Line{{ID: "b", User: "a"}, {User: "b"}} }, `lines[1].id: "b" is also the id of lines[0]`},
		{"line id bad", func(c *Config) { c.Lines = []Line{{ID: "a.b", User: "a"}} }, `lines[0].id: "a.b": use letters, digits, '-' and '_' (at most 32)`},
		{"line id defaulted from a user that is not an id", func(c *Config) { c.Lines = []Line{{User: "+4930"}} },
			`lines[0].id: defaults to user "+4930", which is not a valid id: set id (letters, digits, '-', '_'; at most 32)`},
		{"line auth_user bad", func(c *Config) { c.Lines = []Line{{User: "a", AuthUser: "x y"}} },
			`lines[0].auth_user: "x y" may not contain quotes, backslashes, spaces or control characters`},
		{"line display_name with a line break", func(c *Config) { c.Lines = []Line{{User: "a", DisplayName: "A\nB"}} },
			"lines[0].display_name: may not contain control characters or line breaks"},
		{"several problems are all reported", func(c *Config) {
			c.Server.SIPPort = -5
			c.Audio.Channels = 2
			c.Lines = []Line{{}}
		}, "server.sip_port: -5 is not a port (1-65535, or 0 for any free port)\n" +
			"audio.channels: 2 is not supported: only mono (1) is\n" +
			"lines[0].user: required: the port's SIP User ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if got := errorLines(err); got != tt.want {
				t.Fatalf("Validate():\n got %s\nwant %s", got, tt.want)
			}
			if err == nil {
				return
			}
			// Each problem is an *Error whose Key starts its message.
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *Error
				if !errors.As(e, &ce) || ce.Key == "" || !strings.HasPrefix(e.Error(), ce.Key+": ") {
					t.Errorf("problem %q is not an *Error led by its key", e)
				}
			}
		})
	}
}
