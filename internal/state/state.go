// Package state persists what must survive a restart: each line's identity
// and registration binding, and the last event sequence number. The file is
// small JSON, written atomically (temporary file, fsync, rename).
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sip-phone-api/sipphone"
)

// Version is the file format version.
const Version = 1

// File is the persisted state.
type File struct {
	Version int    `json:"version"`
	LastSeq uint64 `json:"last_seq"`
	Lines   []Line `json:"lines"`
	// Events are the last events of the previous run, so clients that
	// reconnect with ?since= after a restart are replayed them.
	Events []sipphone.Event `json:"events,omitempty"`
}

// Line is one line's persisted identity and binding.
type Line struct {
	ID           string                 `json:"id"`
	User         string                 `json:"user"`
	DisplayName  string                 `json:"display_name,omitempty"`
	Registration *sipphone.Registration `json:"registration,omitempty"`
	// State is kept only when it cannot be learned again from the phone:
	// "unknown" after we ended the line's call (API or shutdown), until
	// the phone's next SIP event.
	State sipphone.LineState `json:"state,omitempty"`
}

// Load reads the state file. A missing file is not an error: it returns an
// empty state.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Version: Version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v); move it away to start fresh", path, err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("state file %s has version %d, this build reads %d", path, f.Version, Version)
	}
	return &f, nil
}

// Save writes f to path atomically: readers see the old or the new file,
// never a torn one, even if the process dies mid-write.
func Save(path string, f *File) error {
	f.Version = Version
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*.tmp")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return nil
}
