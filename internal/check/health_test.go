package check

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/config"
)

func TestHealthCLI(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	os.WriteFile(cfgFile, []byte("server:\n  host: 0.0.0.0\n  rest_port: "+itoa(port)+"\n"), 0o644)
	closed := closedTCP(t)

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		ready bool
		err   error // nil, ErrFailed, ErrConfig
		out   string
	}{
		{"ready, address from the file", []string{"--config", cfgFile}, nil, true, nil, "ok http://127.0.0.1:" + itoa(port) + "/readyz"},
		{"ready, port from the environment", nil, map[string]string{"API_PORT": itoa(port), "API_HOST": "127.0.0.1"}, true, nil, "ok "},
		{"not ready", []string{"--config", cfgFile}, nil, false, ErrFailed, "503 Service Unavailable"},
		{"explicit url", []string{"--url", srv.URL + "/readyz"}, nil, true, nil, "ok " + srv.URL},
		{"nothing listens", []string{"--url", "http://" + closed + "/readyz", "--timeout", "1s"}, nil, true, ErrFailed, "FAIL http://" + closed},
		{"bad config", []string{"--config", filepath.Join(t.TempDir(), "missing.yml")}, nil, true, ErrConfig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready = tt.ready
			var out, errOut bytes.Buffer
			err := RunHealthCLI(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, &errOut)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("output %q lacks %q", out.String(), tt.out)
			}
		})
	}
}

func TestReadyURL(t *testing.T) {
	tests := []struct {
		host string
		want string
	}{
		{"0.0.0.0", "http://127.0.0.1:8000/readyz"},
		{"", "http://127.0.0.1:8000/readyz"},
		{"::", "http://[::1]:8000/readyz"},
		{"192.168.1.10", "http://192.168.1.10:8000/readyz"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			c := config.Default()
			c.Server.Host, c.Server.APIHost, c.Server.RESTPort = tt.host, "", 8000
			if got := ReadyURL(&c); got != tt.want {
				t.Errorf("= %q, want %q", got, tt.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// closedTCP returns a loopback address nothing listens on.
func closedTCP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}
