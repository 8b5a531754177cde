package config

import (
	"os"
	"path/filepath"
	"regexp"
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
