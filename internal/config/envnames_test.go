package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeployFilesNameTheConfigVariable checks that the deployment files
// tell users the variable the program reads for its configuration file.
func TestDeployFilesNameTheConfigVariable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(path, []byte("server:\n  rest_port: 8123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "SIP_PHONE_CONFIG"
	c, err := Load("", func(k string) string {
		if k == name {
			return path
		}
		return ""
	})
	if err != nil || c.Server.RESTPort != 8123 {
		t.Fatalf("Load does not read %s: %v", name, err)
	}
	re := regexp.MustCompile(`\b[A-Z][A-Z_]*_CONFIG\b`)
	for _, f := range []string{"../../docker-compose.yml", "../../deploy/README.md", "../../README.md", "../../config.example.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range re.FindAllString(string(b), -1) {
			if v != name {
				t.Errorf("%s names %s; the program reads %s", f, v, name)
			}
		}
	}
}

func TestCodecSpellings(t *testing.T) {
	for in, want := range map[string]string{"PCMU": "PCMU", "pcma": "PCMA", "ulaw": "PCMU", "ALaw": "PCMA"} {
		c, err := Parse([]byte("audio: {codec: "+in+"}\n"), "t.yml")
		if err != nil {
			t.Fatalf("codec %s: %v", in, err)
		}
		if c.Audio.Codec != want {
			t.Errorf("codec %s = %s, want %s", in, c.Audio.Codec, want)
		}
	}
	if _, err := Parse([]byte("audio: {codec: opus}\n"), "t.yml"); err == nil || !strings.Contains(err.Error(), "audio.codec") {
		t.Errorf("codec opus: %v, want an error naming audio.codec", err)
	}
}

func TestAPIAuthFromEnv(t *testing.T) {
	c := Default()
	if err := c.ApplyEnv(func(k string) string {
		if k == "API_AUTH" {
			return "none"
		}
		return ""
	}); err != nil || c.API.Auth != "none" {
		t.Fatalf("API_AUTH=none: auth %q, %v", c.API.Auth, err)
	}
	if _, err := Parse([]byte("api: {auth: maybe}\n"), "t.yml"); err == nil || !strings.Contains(err.Error(), "api.auth") {
		t.Errorf("api.auth maybe: %v, want an error naming api.auth", err)
	}
}
