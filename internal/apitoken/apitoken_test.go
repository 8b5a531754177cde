package apitoken

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateKeepsOneOwnerOnlyToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	p := Path(filepath.Join(dir, "state.json"))
	if _, err := Read(p); err == nil {
		t.Fatal("Read found a token before one was made")
	}
	tok, created, err := LoadOrCreate(p)
	if err != nil || !created || len(tok) < 40 {
		t.Fatalf("LoadOrCreate = %q %v %v", tok, created, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreate(p)
	if err != nil || created || again != tok {
		t.Fatalf("second LoadOrCreate = %q %v %v, want the same token", again, created, err)
	}
	if got, err := Read(p); err != nil || got != tok {
		t.Fatalf("Read = %q %v", got, err)
	}
	os.WriteFile(p, []byte("short\n"), 0o600)
	if _, _, err := LoadOrCreate(p); err == nil {
		t.Fatal("a damaged token file was accepted")
	}
}
