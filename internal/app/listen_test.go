package app

import (
	"net"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/config"
)

// TestIPv4HostListensOnIPv4Only: host 0.0.0.0 is every IPv4 interface, not
// IPv6 too, and the start-up log gives addresses as strings.
func TestIPv4HostListensOnIPv4Only(t *testing.T) {
	s := startServerWith(t, "", "", func(c *config.Config) { c.Server.APIHost = "0.0.0.0"; c.API.Auth = "token" })
	if a := s.RESTAddr().(*net.TCPAddr); a.IP.To4() == nil || !a.IP.IsUnspecified() {
		t.Fatalf("REST listens on %v, want 0.0.0.0", a)
	}
	if c, err := net.Dial("tcp6", "[::1]:"+strings.Split(s.RESTAddr().String(), ":")[1]); err == nil {
		c.Close()
		t.Fatal("host 0.0.0.0 accepted a connection over IPv6")
	}
	var started string
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, "sipphone started") {
			started = l
		}
	}
	// The text handler writes a struct address as {IP:...}; a string as host:port.
	if strings.Contains(started, "{IP:") || !strings.Contains(started, "rest=0.0.0.0:") {
		t.Fatalf("start-up line gives addresses as objects (or none): %q", started)
	}
}
