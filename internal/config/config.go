// Package config is the typed configuration of sipphone: built-in defaults,
// the YAML file, environment overrides, and validation whose every error
// names the offending key (and, for file values, FILE:LINE).
//
// A configuration is produced by [Load] (file + environment) or [Parse]
// (bytes only); both return a Config that has passed [Config.Validate].
//
// It is larger than most packages (about 2,100 lines) because every key has its default, its
// environment override, its validation message and its place in the redacted dump; splitting those
// apart would scatter one key over several packages.
package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultPath is the configuration file read when neither a flag nor
// SIP_PHONE_CONFIG names one and the file exists.
const DefaultPath = "/etc/sip_phone/config.yml"

// Config is the whole configuration of sipphone.
type Config struct {
	Server  Server  `yaml:"server"`
	HT802   HT802   `yaml:"ht802"`
	Audio   Audio   `yaml:"audio"`
	Logging Logging `yaml:"logging"`
	API     API     `yaml:"api"`
	Lines   []Line  `yaml:"lines"`
	Bot     Bot     `yaml:"bot"`
	// MQTT and Announce are defined in mqtt.go.
	MQTT     MQTT     `yaml:"mqtt"`
	Announce Announce `yaml:"announce"`
	// Source is the file the configuration was loaded from, "" when it was
	// built from defaults (and the environment) only.
	Source string `yaml:"-"`

	// origin records where values came from, so validation errors can
	// point at FILE:LINE or name the environment variable.
	origin origin
}

// origin maps dotted keys to the place their value came from. Its maps are
// never mutated after being stored in a Config (copies share them).
type origin struct {
	lines map[string]int    // dotted key -> line in Source
	env   map[string]string // dotted key -> environment variable that set it
}

// Server holds the listen addresses and ports of the SIP server and the API.
type Server struct {
	// Host is the listen address for SIP and the API unless SIPHost or
	// APIHost override it. Default "0.0.0.0".
	Host string `yaml:"host"`
	// SIPHost is the SIP listen address; "" means Host. Env SIP_SERVER_HOST.
	SIPHost string `yaml:"sip_host"`
	// APIHost is the REST and WebSocket listen address; "" means Host. Env API_HOST.
	APIHost string `yaml:"api_host"`
	// SIPPort is the SIP port (UDP and/or TCP). Default 5060; 0 picks a
	// free port. Env SIP_SERVER_PORT.
	SIPPort int `yaml:"sip_port"`
	// SIPTransports lists the SIP transports to listen on: "udp", "tcp".
	// Default both.
	SIPTransports []string `yaml:"sip_transports"`
	// RESTPort is the REST API port. Default 8000; 0 picks a free port. Env API_PORT.
	RESTPort int `yaml:"rest_port"`
	// WebSocketPort is the WebSocket port. Default 8001. When it equals
	// RESTPort one listener serves both. Env WS_PORT.
	WebSocketPort int `yaml:"websocket_port"`
	// AdvertiseAddr is the IP address put in SIP Contact headers and SDP;
	// "" chooses it per peer automatically.
	AdvertiseAddr string `yaml:"advertise_address"`
	// StateFile is where registrations survive restarts. Load defaults it to
	// $XDG_STATE_HOME/sipphone/state.json or ~/.local/state/sipphone/state.json
	// (see [DefaultStateFile]). Env SIP_PHONE_STATE.
	StateFile string `yaml:"state_file"`
	// ShutdownTimeout bounds a graceful shutdown. Default 5s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TLS serves the REST and WebSocket listeners over HTTPS (see [TLS]).
	TLS TLS `yaml:"tls"`
}

// EffectiveSIPHost returns the SIP listen address: SIPHost, or Host when
// SIPHost is empty.
func (s Server) EffectiveSIPHost() string {
	if s.SIPHost != "" {
		return s.SIPHost
	}
	return s.Host
}

// EffectiveAPIHost returns the REST/WebSocket listen address: APIHost, or
// Host when APIHost is empty.
func (s Server) EffectiveAPIHost() string {
	if s.APIHost != "" {
		return s.APIHost
	}
	return s.Host
}

// HT802 describes the analog telephone adapter(s) that register with us.
type HT802 struct {
	// Host lists the adapter addresses (IPs, CIDRs or hostnames) SIP
	// requests are accepted from; empty accepts any source.
	Host AddrList `yaml:"host"`
	// AuthEnabled turns on digest authentication of REGISTER and INVITE.
	AuthEnabled bool `yaml:"auth_enabled"`
	// Credentials is the Authenticate ID and password shared by the ports
	// (both ports of an HT802 may use it).
	Credentials Credentials `yaml:"credentials"`
	// Realm is the digest realm. Default "sipphone".
	Realm string `yaml:"realm"`
	// AutoDial is the number the port's Offhook Auto-Dial sends when the
	// handset is lifted. Default "100"; "" means auto-dial is not used.
	AutoDial string `yaml:"auto_dial"`
	// RingTimeout is how long a ring lasts before it is given up. Default 30s.
	RingTimeout Duration `yaml:"ring_timeout"`
	// RingPatterns maps a pattern name to its Alert-Info header value.
	// Defaults are [DefaultRingPatterns]; file entries add or override.
	RingPatterns map[string]string `yaml:"ring_patterns"`
	// NonceLifetime is how long a digest nonce stays valid. Default 5m.
	NonceLifetime Duration `yaml:"nonce_lifetime"`
	// RegisterMinExpires is the shortest registration accepted, in seconds;
	// shorter requests get 423 Interval Too Brief. Default 60.
	RegisterMinExpires int `yaml:"register_min_expires"`
	// RegisterMaxExpires caps the registration lifetime granted, in seconds.
	// Default 3600.
	RegisterMaxExpires int `yaml:"register_max_expires"`
}

// Credentials is a digest Authenticate ID and password.
type Credentials struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Audio holds the media settings.
type Audio struct {
	// SampleRate is the default rate of client audio streams: 8000, 16000,
	// 24000 or 48000. Default 8000.
	SampleRate int `yaml:"sample_rate"`
	// BitDepth of client PCM; only 16 is supported.
	BitDepth int `yaml:"bit_depth"`
	// Channels of client PCM; only 1 is supported.
	Channels int `yaml:"channels"`
	// Codec is the preferred codec in SDP answers: "PCMU" (default) or
	// "PCMA". Input is case-insensitive; it is stored upper-case.
	Codec string `yaml:"codec"`
	// BufferSize is the default client chunk size in bytes of 16-bit audio
	// at SampleRate: a whole number of milliseconds between 10 and 1000.
	// Default 320 (20 ms at 8000 Hz); when the file changes sample_rate but
	// not buffer_size, 20 ms at that rate.
	BufferSize int `yaml:"buffer_size"`
	// RTPPorts is the UDP port range for RTP. Default 10000-20000.
	// Env RTP_PORT_MIN / RTP_PORT_MAX.
	RTPPorts PortRange `yaml:"rtp_ports"`
	// PTime is the RTP packet duration in ms: 10 to 60 in steps of 10. Default 20.
	PTime int `yaml:"ptime"`
	// JitterMax is the largest jitter buffer depth, 0 to 500ms. Default 60ms.
	JitterMax Duration `yaml:"jitter_buffer_max"`
	// RTPTimeout ends a call when no RTP arrives for this long; 0 disables.
	// Default 30s.
	RTPTimeout Duration `yaml:"rtp_timeout"`
	// InbandDTMF runs the in-band DTMF detector on the phone's audio, for
	// adapters that send keys "In-audio". Default true.
	InbandDTMF bool `yaml:"inband_dtmf"`
	// LevelEvents publishes an audio_level event for each line in a call
	// at this interval; 0 (the default) publishes none.
	LevelEvents Duration `yaml:"level_events"`
}

// FrameMS returns BufferSize expressed in milliseconds of 16-bit mono audio
// at SampleRate, or 0 when SampleRate is not a whole number of kHz.
func (a Audio) FrameMS() int {
	perMS := bytesPerMS(a.SampleRate)
	if perMS == 0 {
		return 0
	}
	return a.BufferSize / perMS
}

// bytesPerMS is the size of one millisecond of 16-bit mono audio at rate,
// 0 when rate is not a positive whole number of kHz.
func bytesPerMS(rate int) int {
	if rate <= 0 || rate%1000 != 0 {
		return 0
	}
	return rate / 1000 * 2
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// Logging configures the logger.
type Logging struct {
	// Level is debug, info, warn (or warning) or error, case-insensitive.
	// Default "info". Env LOG_LEVEL.
	Level string `yaml:"level"`
	// Format is "json" or "text". Default "text".
	Format string `yaml:"format"`
	// Output is "stdout" (default), "stderr" or a file path.
	Output string `yaml:"output"`
	// Rotation rotates a log file: "" (never), a period ("1 day",
	// "12 hours", "1h") or a size ("100MB", "10 MiB").
	Rotation string `yaml:"rotation"`
	// Retention deletes rotated files older than a period ("30 days");
	// "" keeps them.
	Retention string `yaml:"retention"`
}

// SlogLevel returns Level as a slog.Level; unknown levels are Info.
func (l Logging) SlogLevel() slog.Level {
	switch strings.ToLower(strings.TrimSpace(l.Level)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// RotationPeriod returns the rotation period or the rotation size in
// bytes; at most one is non-zero, both are zero when rotation is off or
// Rotation is invalid.
func (l Logging) RotationPeriod() (period time.Duration, size int64) {
	period, size, err := parseRotation(l.Rotation)
	if err != nil {
		return 0, 0
	}
	return period, size
}

// RetentionPeriod returns how long rotated files are kept; 0 keeps them
// forever (also when Retention is invalid).
func (l Logging) RetentionPeriod() time.Duration {
	if strings.TrimSpace(l.Retention) == "" {
		return 0
	}
	d, err := parsePeriod(l.Retention)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// API configures the REST and WebSocket API.
type API struct {
	// Tokens are the accepted bearer tokens; none disables authentication.
	// Env API_TOKEN adds (or replaces) one token named "env".
	Tokens []Token `yaml:"tokens"`
	// Origins is the WebSocket Origin allow-list: origins
	// ("https://ha.example.com") or host patterns ("*.example.com").
	// The API's own origins (its host on the REST or the WebSocket port)
	// are always allowed.
	Origins []string `yaml:"allowed_origins"`
	// Auth is how the API is protected (env API_AUTH):
	//   "auto" (default): the tokens are required from every client; with
	//     none configured a token is generated at first start and kept in
	//     the state directory (`sipphone token` prints it), and clients on
	//     loopback need none.
	//   "token": a token is required from every client, loopback too (for
	//     a reverse proxy on the same host); generated if none configured.
	//   "none": no token is asked for (a warning is logged at start).
	Auth string `yaml:"auth"`
	// MaxClients bounds the open WebSocket connections (events and audio);
	// beyond it a new one gets 503 at once. Default 200.
	MaxClients int `yaml:"max_clients"`
	// MaxClientsPerAddress bounds them per client IP address. Default 32.
	MaxClientsPerAddress int `yaml:"max_clients_per_address"`
}

// Token is a named API bearer token.
type Token struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
}

// Line is one FXS port of an adapter, known by its SIP User ID.
type Line struct {
	// ID names the line in the API: letters, digits, '-' and '_', at most
	// 32 characters. Defaults to User.
	ID string `yaml:"id"`
	// User is the port's SIP User ID (required).
	User string `yaml:"user"`
	// AuthUser is the port's Authenticate ID. Defaults to User.
	AuthUser string `yaml:"auth_user"`
	// Password is the port's digest password. Defaults to
	// ht802.credentials.password when ht802.credentials.username equals AuthUser.
	Password string `yaml:"password"`
	// DisplayName is shown as caller ID when we ring the phone.
	DisplayName string `yaml:"display_name"`
	// OnOffHook connects a voice bot whenever the handset is lifted.
	OnOffHook *OnOffHook `yaml:"on_off_hook,omitempty"`
}

// Default returns the built-in configuration. It reads nothing from the
// environment; [Load] adds the environment-dependent StateFile default.
func Default() Config {
	return Config{
		Server: Server{
			Host:            "0.0.0.0",
			SIPPort:         5060,
			SIPTransports:   []string{"udp", "tcp"},
			RESTPort:        8000,
			WebSocketPort:   8001,
			ShutdownTimeout: Duration(5 * time.Second),
		},
		HT802: HT802{
			Realm:              "sipphone",
			AutoDial:           "100",
			RingTimeout:        Duration(30 * time.Second),
			RingPatterns:       DefaultRingPatterns(),
			NonceLifetime:      Duration(5 * time.Minute),
			RegisterMinExpires: 60,
			RegisterMaxExpires: 3600,
		},
		Audio: Audio{
			SampleRate: 8000,
			BitDepth:   16,
			Channels:   1,
			Codec:      "PCMU",
			BufferSize: 320,
			RTPPorts:   PortRange{Min: 10000, Max: 20000},
			PTime:      20,
			JitterMax:  Duration(60 * time.Millisecond),
			RTPTimeout: Duration(30 * time.Second),
			InbandDTMF: true,
		},
		Logging: Logging{
			Level:  "info",
			Format: "text",
			Output: "stdout",
		},
		Bot:      DefaultBot(),
		MQTT:     defaultMQTT(),
		Announce: defaultAnnounce(),
		API:      API{Auth: "auto", MaxClients: 200, MaxClientsPerAddress: 32},
	}
}

// DefaultRingPatterns returns the Alert-Info values an HT802 understands:
// ring1..ring10 and bellcore-dr1..bellcore-dr5.
func DefaultRingPatterns() map[string]string {
	m := make(map[string]string, 15)
	for i := 1; i <= 10; i++ {
		m[fmt.Sprintf("ring%d", i)] = fmt.Sprintf("<http://127.0.0.1>;info=ring%d", i)
	}
	for i := 1; i <= 5; i++ {
		m[fmt.Sprintf("bellcore-dr%d", i)] = fmt.Sprintf("<http://127.0.0.1>;info=Bellcore-dr%d", i)
	}
	return m
}

// LineByUser returns the configured line whose SIP User ID is user.
func (c Config) LineByUser(user string) (Line, bool) {
	for _, l := range c.Lines {
		if l.User == user {
			return l, true
		}
	}
	return Line{}, false
}

// redactedMark replaces secrets in [Config.Redacted].
const redactedMark = "***"

// Redacted returns a deep copy of c with passwords and tokens replaced by
// "***" (empty secrets stay empty, so a missing one is still visible).
func (c *Config) Redacted() Config {
	r := *c
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return redactedMark
	}
	r.Server.SIPTransports = append([]string(nil), c.Server.SIPTransports...)
	r.HT802.Host.Entries = append([]string(nil), c.HT802.Host.Entries...)
	r.HT802.Host.nets = append(r.HT802.Host.nets[:0:0], c.HT802.Host.nets...)
	r.HT802.Credentials.Password = hide(c.HT802.Credentials.Password)
	if c.HT802.RingPatterns != nil {
		r.HT802.RingPatterns = make(map[string]string, len(c.HT802.RingPatterns))
		for k, v := range c.HT802.RingPatterns {
			r.HT802.RingPatterns[k] = v
		}
	}
	r.API.Origins = append([]string(nil), c.API.Origins...)
	if c.API.Tokens != nil {
		r.API.Tokens = make([]Token, len(c.API.Tokens))
		for i, t := range c.API.Tokens {
			r.API.Tokens[i] = Token{Name: t.Name, Token: hide(t.Token)}
		}
	}
	r.MQTT.Password = hide(c.MQTT.Password)
	r.Announce.AllowedURLHosts = append([]string(nil), c.Announce.AllowedURLHosts...)
	if c.Lines != nil {
		r.Lines = make([]Line, len(c.Lines))
		for i, l := range c.Lines {
			l.Password = hide(l.Password)
			r.Lines[i] = l
		}
	}
	return r
}
