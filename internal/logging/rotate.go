package logging

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RotatedLayout is the time format of a rotated file's suffix:
// api.log becomes api.log.2026-01-02T15-04-05 (local time, no colons so the
// name is valid everywhere). The time is the end of the period the file
// covers for rotation by period, and the moment of rotation for rotation
// by size. A name already taken gets "-1", "-2", ... appended.
const RotatedLayout = "2006-01-02T15-04-05"

// cleanupEvery bounds how often a write looks for expired rotated files
// when no rotation happens (rotation itself always looks).
const cleanupEvery = time.Hour

// FileOptions choose when a [File] rotates and how long rotated files are
// kept. The zero value appends to one file forever.
type FileOptions struct {
	// Rotation rotates when the current period ends. Periods are counted
	// from local midnight: "1 day" rotates at every local midnight,
	// "12 hours" at midnight and noon, "1 hour" on the hour, "2 days" at
	// every second midnight from the day the file was opened. Whole days
	// follow the calendar (a DST day is 23 or 25 hours); other periods
	// are exact durations from midnight. 0 disables.
	Rotation time.Duration
	// RotateSize rotates before a write would make the file larger than
	// this many bytes. A single record larger than RotateSize is written
	// whole into a fresh file. 0 disables.
	RotateSize int64
	// Retention deletes rotated files whose suffix time is older than
	// this. Files whose names do not parse are never touched. 0 keeps
	// everything.
	Retention time.Duration
	// Now is the clock; nil is time.Now. Tests inject one.
	Now func() time.Time
}

// File is an io.WriteCloser appending to a log file that it rotates by
// period or size and whose old copies it deletes after the retention
// period. Rotation and retention are checked on Write: File starts no
// goroutine. It is safe for concurrent use.
type File struct {
	path string
	opt  FileOptions

	// mu guards f, size, next and lastClean. Writes and rotations happen
	// under it; deleting expired files happens outside it.
	mu        sync.Mutex
	f         *os.File
	size      int64
	next      time.Time // when the current period ends; zero without period rotation
	lastClean time.Time
	cleaning  bool // a cleanup is running outside mu
}

// OpenFile opens (creating it and its directory when needed) the log file
// at path for appending. A file left from an earlier run whose last write
// lies before the current rotation period began is rotated first, so each
// rotated file holds one period. Expired rotated files are deleted.
func OpenFile(path string, o FileOptions) (*File, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	w := &File{path: path, opt: o}
	now := w.now()
	if o.Rotation > 0 {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			if end := w.periodEnd(fi.ModTime().Local()); !now.Before(end) {
				if err := w.rename(end); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := w.open(now); err != nil {
		return nil, err
	}
	w.lastClean = now
	w.removeExpired(now)
	return w, nil
}

// Write appends p, rotating first when the period has ended or p would
// make the file exceed RotateSize.
func (w *File) Write(p []byte) (int, error) {
	w.mu.Lock()
	now := w.now()
	if w.f == nil {
		w.mu.Unlock()
		return 0, os.ErrClosed
	}
	rotated := false
	if w.due(now, len(p)) {
		name := now
		if !w.next.IsZero() && !now.Before(w.next) {
			name = w.next // the end of the period the file covers
		}
		switch err := w.rotateLocked(now, name); {
		case err == nil:
			rotated = true
		case w.f == nil:
			w.mu.Unlock()
			return 0, err
		default:
			// The rename failed and the same file was reopened: keep
			// logging into it and try again after another period or
			// RotateSize bytes rather than on every write.
			w.size = 0
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	clean := w.opt.Retention > 0 && !w.cleaning && (rotated || now.Sub(w.lastClean) >= cleanupEvery)
	if clean {
		w.cleaning, w.lastClean = true, now
	}
	w.mu.Unlock()
	if clean {
		w.removeExpired(now)
		w.mu.Lock()
		w.cleaning = false
		w.mu.Unlock()
	}
	return n, err
}

// Rotate renames the current file aside now and starts a new one (for
// example on SIGHUP).
func (w *File) Rotate() error {
	w.mu.Lock()
	now := w.now()
	if w.f == nil {
		w.mu.Unlock()
		return os.ErrClosed
	}
	err := w.rotateLocked(now, now)
	w.mu.Unlock()
	if err == nil {
		w.removeExpired(now)
	}
	return err
}

// Close closes the file. Later writes fail with os.ErrClosed.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// due reports whether a write of n bytes at now must go to a new file.
func (w *File) due(now time.Time, n int) bool {
	if !w.next.IsZero() && !now.Before(w.next) {
		return true
	}
	return w.opt.RotateSize > 0 && w.size > 0 && w.size+int64(n) > w.opt.RotateSize
}

// now returns the clock's time in the local time zone, in which periods
// and rotated names are expressed.
func (w *File) now() time.Time { return w.opt.Now().Local() }

// rotateLocked renames the file to its rotated name for time name and
// opens a new one. When the rename fails the same file is reopened, and
// the error returned with w.f set; when reopening fails w.f is nil.
func (w *File) rotateLocked(now, name time.Time) error {
	closeErr := w.f.Close()
	w.f = nil
	renameErr := w.rename(name)
	// Reopen even when the rename failed: logging must go on.
	if err := w.open(now); err != nil {
		return err
	}
	if closeErr != nil {
		return fmt.Errorf("close log file: %w", closeErr)
	}
	return renameErr
}

// rename moves the log file to its rotated name for time t.
func (w *File) rename(t time.Time) error {
	base := w.path + "." + t.Format(RotatedLayout)
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(w.path, name); err != nil {
		return fmt.Errorf("rotate log file: %w", err)
	}
	return nil
}

// open opens the log file for appending and computes the end of the
// current period.
func (w *File) open(now time.Time) error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	w.f, w.size = f, fi.Size()
	w.next = time.Time{}
	if w.opt.Rotation > 0 {
		w.next = w.periodEnd(now)
	}
	return nil
}

// periodEnd returns the first period boundary after t.
func (w *File) periodEnd(t time.Time) time.Time {
	p := w.opt.Rotation
	start := periodStart(t, p)
	if p%(24*time.Hour) == 0 {
		return start.AddDate(0, 0, int(p/(24*time.Hour)))
	}
	return start.Add(p)
}

// periodStart returns the start of the period holding t: the last local
// midnight plus a whole number of periods (whole-day periods count from
// t's own midnight).
func periodStart(t time.Time, p time.Duration) time.Time {
	y, m, d := t.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	if p%(24*time.Hour) == 0 {
		return midnight
	}
	return midnight.Add(t.Sub(midnight) / p * p)
}

// removeExpired deletes rotated files whose suffix time is more than
// Retention before now. Errors are ignored: a file that cannot be deleted
// now is tried again later.
func (w *File) removeExpired(now time.Time) {
	if w.opt.Retention <= 0 {
		return
	}
	for _, r := range rotatedFiles(w.path) {
		if now.Sub(r.at) > w.opt.Retention {
			os.Remove(r.name)
		}
	}
}

// rotated is a rotated copy of the log file.
type rotated struct {
	name string
	at   time.Time
}

// rotatedFiles lists path's rotated copies: path.RotatedLayout[-N].
func rotatedFiles(path string) []rotated {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []rotated
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || e.IsDir() || len(suffix) < len(RotatedLayout) {
			continue
		}
		if rest := suffix[len(RotatedLayout):]; rest != "" {
			if n, err := strconv.Atoi(strings.TrimPrefix(rest, "-")); err != nil || n < 1 || rest[0] != '-' {
				continue
			}
		}
		at, err := time.ParseInLocation(RotatedLayout, suffix[:len(RotatedLayout)], time.Local)
		if err != nil {
			continue
		}
		out = append(out, rotated{name: filepath.Join(dir, e.Name()), at: at})
	}
	return out
}
