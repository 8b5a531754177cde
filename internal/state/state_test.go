package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &File{LastSeq: 42, Lines: []Line{{ID: "kitchen", User: "phone1", Registration: &sipphone.Registration{
		Contact: "sip:phone1@192.168.1.100:5060", Source: "192.168.1.100:5060", Transport: "udp", Expires: exp}}}}
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.LastSeq != 42 || len(out.Lines) != 1 || out.Lines[0].Registration.Contact != in.Lines[0].Registration.Contact ||
		!out.Lines[0].Registration.Expires.Equal(exp) {
		t.Fatalf("loaded %+v", out)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want only the state file (temporary file left behind?)", len(entries))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content string
		wantErr string
	}{
		{"missing file is empty state", "", ""},
		{"corrupt", "{not json", "corrupt"},
		{"future version", `{"version": 99}`, "version 99"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if i > 0 {
				os.WriteFile(path, []byte(c.content), 0o644)
			}
			f, err := Load(path)
			if c.wantErr == "" {
				if err != nil || f == nil || len(f.Lines) != 0 {
					t.Fatalf("Load = %+v, %v", f, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, c.wantErr)
			}
		})
	}
}
