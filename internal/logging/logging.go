// Package logging builds the service's slog logger from the logging
// configuration: level, text or JSON format, and the output (stdout, stderr
// or a file).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Options choose the logger.
type Options struct {
	Level  slog.Level
	Format string // "json" or "text"
	Output string // "stdout", "stderr" or a file path
}

// New returns a logger and a closer for its output. stdout is where
// "stdout" goes (injected for tests).
func New(o Options, stdout, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	var w io.Writer
	var closer io.Closer = io.NopCloser(nil)
	switch strings.ToLower(o.Output) {
	case "", "stdout", "-":
		w = stdout
	case "stderr":
		w = stderr
	default:
		if err := os.MkdirAll(filepath.Dir(o.Output), 0o755); err != nil {
			return nil, nil, fmt.Errorf("logging.output: create directory: %w", err)
		}
		f, err := os.OpenFile(o.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("logging.output: %w", err)
		}
		w, closer = f, f
	}
	ho := &slog.HandlerOptions{Level: o.Level}
	var h slog.Handler
	if strings.EqualFold(o.Format, "json") {
		h = slog.NewJSONHandler(w, ho)
	} else {
		h = slog.NewTextHandler(w, ho)
	}
	return slog.New(h), closer, nil
}
