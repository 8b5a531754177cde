package config

import (
	"strings"
	"testing"
)

func TestTLSKeys(t *testing.T) {
	base := "server: {state_file: /var/lib/sipphone/state.json, tls: %s}\n"
	ok := []string{"{}", "{self_signed: true}", "{cert_file: /etc/ssl/hub.pem, key_file: /etc/ssl/hub.key}"}
	for _, v := range ok {
		c, err := Parse([]byte(strings.Replace(base, "%s", v, 1)), "c.yml")
		if err != nil {
			t.Fatalf("tls %s: %v", v, err)
		}
		if got, want := c.Server.TLS.Enabled(), v != "{}"; got != want {
			t.Fatalf("tls %s: Enabled() = %v", v, got)
		}
	}
	bad := map[string]string{
		"{cert_file: /etc/ssl/hub.pem}":                            "c.yml:1: server.tls.key_file: required",
		"{key_file: /etc/ssl/hub.key}":                             "server.tls.cert_file: required",
		"{self_signed: true, cert_file: /a.pem, key_file: /a.key}": "server.tls.self_signed: cannot be combined",
		"{cert_file: /etc/ssl/, key_file: /etc/ssl/hub.key}":       "server.tls.cert_file: \"/etc/ssl/\" is not a file path",
		"{self_signed: yes-please}":                                "self_signed",
		"{certfile: /etc/ssl/hub.pem}":                             "certfile",
	}
	for v, want := range bad {
		_, err := Parse([]byte(strings.Replace(base, "%s", v, 1)), "c.yml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tls %s: error %v, want it to contain %q", v, err, want)
		}
	}
}
