// Package logging builds the service's slog logger from the logging
// configuration: level, text or JSON format, and the output (stdout,
// stderr or a file), with rotation of the file by period or size and
// deletion of rotated files after a retention period.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Options choose the logger.
type Options struct {
	Level  slog.Level
	Format string // "json" or "text"
	Output string // "stdout", "stderr" or a file path
	// Rotation rotates a file output at the end of each period counted
	// from local midnight (see [FileOptions.Rotation]); 0 never.
	Rotation time.Duration
	// RotateSize rotates a file output before it would exceed this many
	// bytes; 0 never.
	RotateSize int64
	// Retention deletes rotated files older than this; 0 keeps them.
	Retention time.Duration
	// Now is the clock of rotation and retention; nil is time.Now.
	Now func() time.Time
}

// New returns a logger and a closer for its output. stdout and stderr are
// where "stdout" and "stderr" go (injected for tests). Rotation and
// retention apply to a file output only.
func New(o Options, stdout, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	var w io.Writer
	var closer io.Closer = nopCloser{}
	switch strings.ToLower(o.Output) {
	case "", "stdout", "-":
		w = stdout
	case "stderr":
		w = stderr
	default:
		f, err := OpenFile(o.Output, FileOptions{Rotation: o.Rotation, RotateSize: o.RotateSize, Retention: o.Retention, Now: o.Now})
		if err != nil {
			return nil, nil, fmt.Errorf("logging.output: %w", err)
		}
		w, closer = f, f
		// Said once, so a terminal that sees nothing knows where to look.
		if abs, err := filepath.Abs(o.Output); err == nil && stderr != nil {
			fmt.Fprintf(stderr, "sipphone: logging to %s (logging.output)\n", abs)
		}
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

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
