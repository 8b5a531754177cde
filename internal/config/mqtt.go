package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// MQTT connects sipphone to an MQTT broker (Home Assistant, Node-RED).
// With no URL, MQTT is off.
type MQTT struct {
	// URL is the broker: mqtt://host:1883, or mqtts://host:8883 for TLS.
	// "" turns MQTT off. Env MQTT_URL.
	URL string `yaml:"url"`
	// Username and Password log in to the broker. Env MQTT_USERNAME,
	// MQTT_PASSWORD.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// ClientID is the MQTT client id. Default sipphone-<hostname>.
	ClientID string `yaml:"client_id"`
	// TopicPrefix roots every topic. Default "sipphone".
	TopicPrefix string `yaml:"topic_prefix"`
	// Discovery publishes Home Assistant MQTT discovery. Default true.
	Discovery bool `yaml:"discovery"`
	// DiscoveryPrefix is Home Assistant's discovery prefix. Default
	// "homeassistant".
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// CAFile verifies an mqtts:// broker with this PEM bundle instead of
	// the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mqtts://.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Announce configures POST /lines/{id}/announce and the MQTT announce
// command.
type Announce struct {
	// AllowedURLHosts are the hosts audio_url may name: hostnames, IP
	// addresses or CIDRs. Empty (the default) allows the server's own
	// addresses only.
	AllowedURLHosts []string `yaml:"allowed_url_hosts"`
	// MaxDownloadBytes bounds a downloaded audio file. Default 16 MiB.
	MaxDownloadBytes int `yaml:"max_download_bytes"`
	// FetchTimeout bounds the download of audio_url. Default 15s.
	FetchTimeout Duration `yaml:"fetch_timeout"`
}

// defaultMQTT and defaultAnnounce are the built-in values.
func defaultMQTT() MQTT {
	return MQTT{TopicPrefix: "sipphone", Discovery: true, DiscoveryPrefix: "homeassistant"}
}

func defaultAnnounce() Announce {
	return Announce{MaxDownloadBytes: 16 << 20, FetchTimeout: Duration(15 * time.Second)}
}

// mqttEnvVars are the MQTT overrides.
var mqttEnvVars = []envVar{
	{name: "MQTT_URL", key: "mqtt.url", str: func(c *Config) *string { return &c.MQTT.URL }},
	{name: "MQTT_USERNAME", key: "mqtt.username", str: func(c *Config) *string { return &c.MQTT.Username }},
	{name: "MQTT_PASSWORD", key: "mqtt.password", str: func(c *Config) *string { return &c.MQTT.Password }},
}

// EffectiveClientID returns ClientID, or sipphone-<hostname>.
func (m MQTT) EffectiveClientID(hostname string) string {
	if m.ClientID != "" {
		return m.ClientID
	}
	h := nodeSafe(hostname)
	if h == "" {
		h = "host"
	}
	return "sipphone-" + h
}

func nodeSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

func (v *validator) mqtt() {
	m := v.c.MQTT
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		switch {
		case err != nil:
			v.add("mqtt.url", "%q is not a URL like mqtt://192.168.1.10:1883", m.URL)
		case !validMQTTScheme(u.Scheme):
			v.add("mqtt.url", "scheme %q: use mqtt:// or mqtts:// (also tcp, ssl, tls, ws, wss)", u.Scheme)
		case u.Hostname() == "":
			v.add("mqtt.url", "%q names no broker host, e.g. mqtt://192.168.1.10:1883", m.URL)
		case u.User != nil:
			v.add("mqtt.url", "put the user name and password in mqtt.username and mqtt.password, not in the URL")
		}
		if u != nil && u.Port() != "" {
			if p, err := net.LookupPort("tcp", u.Port()); err != nil || p < 1 || p > 65535 {
				v.add("mqtt.url", "%q is not a port (1-65535)", u.Port())
			}
		}
	}
	v.topicRoot("mqtt.topic_prefix", m.TopicPrefix)
	v.topicRoot("mqtt.discovery_prefix", m.DiscoveryPrefix)
	if len(m.ClientID) > 128 || strings.ContainsFunc(m.ClientID, isSpaceOrControl) {
		v.add("mqtt.client_id", "%q: use at most 128 characters without spaces", m.ClientID)
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		if m.CertFile == "" {
			v.add("mqtt.cert_file", "required with mqtt.key_file")
		} else {
			v.add("mqtt.key_file", "required with mqtt.cert_file")
		}
	}
	a := v.c.Announce
	for i, h := range a.AllowedURLHosts {
		key := fmt.Sprintf("announce.allowed_url_hosts[%d]", i)
		if !validHostEntry(h) {
			v.add(key, "%q is not a hostname, IP address or CIDR", h)
		}
	}
	if a.MaxDownloadBytes < 1024 || a.MaxDownloadBytes > 256<<20 {
		v.add("announce.max_download_bytes", "%d is out of range (1024 to 268435456)", a.MaxDownloadBytes)
	}
	v.durationRange("announce.fetch_timeout", a.FetchTimeout, time.Second, 5*time.Minute)
}

func validMQTTScheme(s string) bool {
	switch s {
	case "mqtt", "mqtts", "tcp", "ssl", "tls", "ws", "wss":
		return true
	}
	return false
}

// topicRoot checks a topic prefix: not empty, no wildcards, no leading or
// trailing slash.
func (v *validator) topicRoot(key, t string) {
	switch {
	case t == "":
		v.add(key, "required")
	case strings.ContainsAny(t, "+#") || strings.ContainsFunc(t, isSpaceOrControl):
		v.add(key, "%q may not contain +, #, spaces or control characters", t)
	case strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") || strings.Contains(t, "//"):
		v.add(key, "%q may not start or end with / or hold an empty level", t)
	}
}

func validHostEntry(h string) bool {
	if h == "" || strings.ContainsFunc(h, isSpaceOrControl) {
		return false
	}
	if _, err := netip.ParsePrefix(h); err == nil {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
