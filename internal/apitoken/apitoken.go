// Package apitoken keeps the API token sipphone generates when none is
// configured: a random secret in a file of the state directory, readable
// by its owner only, so the API is closed to the LAN by default while
// `curl localhost:8000/status` keeps working (loopback needs no token).
package apitoken

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the token file's name in the state directory.
const FileName = "api-token"

// Path returns where the token of a server with state file stateFile is
// kept: next to the state file.
func Path(stateFile string) string {
	return filepath.Join(filepath.Dir(stateFile), FileName)
}

// Read returns the token kept at path.
func Read(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no API token at %s yet: it is created when the server first starts with api.auth auto or token and no api.tokens", path)
	}
	if err != nil {
		return "", fmt.Errorf("read the API token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < 16 {
		return "", fmt.Errorf("the API token file %s is damaged; delete it and restart to get a new token", path)
	}
	return t, nil
}

// LoadOrCreate returns the token kept at path, creating it (mode 0600,
// 32 random bytes) when there is none. created reports a new token.
func LoadOrCreate(path string) (token string, created bool, err error) {
	if t, err := Read(path); err == nil {
		return t, false, nil
	} else if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
		return "", false, err
	}
	var b [32]byte
	rand.Read(b[:])
	t := base64.RawURLEncoding.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", false, fmt.Errorf("create the state directory for the API token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process won the race: use its token
		t, err := Read(path)
		return t, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("create the API token file: %w", err)
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", false, fmt.Errorf("write the API token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write the API token file: %w", err)
	}
	return t, true, f.Close()
}

// Ephemeral returns a new random token that is not kept anywhere.
func Ephemeral() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
