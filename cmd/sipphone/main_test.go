package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/testlog"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, env(nil), nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "sipphone ") {
		t.Fatalf("--version printed %q", out.String())
	}
}

func TestConfigErrorsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, yaml string
		env        map[string]string
		wantText   []string
	}{
		{"unknown key", "audio:\n  rtp_port: {min: 1}\n", nil, []string{"config.yml:2", "audio.rtp_port", "rtp_ports"}},
		{"min above max", "audio:\n  rtp_ports: {min: 20000, max: 10000}\n", nil, []string{"audio.rtp_ports"}},
		{"wrong type", "server:\n  sip_port: five\n", nil, []string{"config.yml:2", "server.sip_port"}},
		{"bad env", "", map[string]string{"SIP_SERVER_PORT": "70000"}, []string{"SIP_SERVER_PORT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "config.yml")
			os.WriteFile(path, []byte(c.yaml), 0o644)
			var out bytes.Buffer
			err := run(context.Background(), []string{"--config", path}, env(c.env), nil, &out, &out)
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error (exit status 2)", err)
			}
			for _, w := range c.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		err := run(context.Background(), []string{"--config", filepath.Join(dir, "nope.yml")}, env(nil), nil, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "nope.yml") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestServeUntilCancelled runs the whole program as main does and stops it
// as SIGTERM would (by cancelling the context).
func TestServeUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf("server: {host: 127.0.0.1, sip_port: 0, rest_port: 0, websocket_port: 0, state_file: %s}\n", filepath.Join(dir, "state.json"))
	path := filepath.Join(dir, "config.yml")
	os.WriteFile(path, []byte(cfg), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	out := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", path}, env(nil), nil, out, out) }()
	re := regexp.MustCompile(`rest=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	var addr string
	for addr == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	res, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/status = %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("shutdown took more than 6 s")
	}
	if !strings.Contains(out.String(), "sipphone stopped") {
		t.Fatalf("no orderly stop logged:\n%s", out.String())
	}
}

// TestTokenPrintsTheKeptToken: "sipphone token" prints the token the server
// generated in its state directory, and says when there is none to print.
func TestTokenPrintsTheKeptToken(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	state := filepath.Join(dir, "state.json")
	if err := os.WriteFile(cfgFile, []byte("server:\n  state_file: "+state+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"token", "--config", cfgFile}, env(nil), nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Fatalf("token before the first start = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api-token"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "--config", cfgFile}, env(nil), nil, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("token = %q %v", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "--config", cfgFile}, env(map[string]string{"API_AUTH": "none"}), nil, &out, &errOut); err != nil || out.Len() != 0 {
		t.Fatalf("token with auth none = %q %v", out.String(), err)
	}
}
