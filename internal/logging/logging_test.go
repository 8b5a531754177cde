package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // DST test zone on machines without tzdata
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func local(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, time.Local)
}

// dir lists the names in d, sorted.
func dir(t *testing.T, d string) []string {
	t.Helper()
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewFormatsAndOutputs(t *testing.T) {
	tests := []struct {
		name    string
		opt     Options
		stdout  bool // the record goes to stdout (else stderr)
		json    bool
		debugOK bool
	}{
		{"default is stdout text", Options{}, true, false, false},
		{"stdout json", Options{Output: "stdout", Format: "json"}, true, true, false},
		{"dash is stdout", Options{Output: "-", Format: "JSON"}, true, true, false},
		{"stderr", Options{Output: "STDERR", Format: "text"}, false, false, false},
		{"debug level", Options{Level: slog.LevelDebug}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			log, c, err := New(tt.opt, &out, &errOut)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("dbg")
			log.Info("hello", "k", "v")
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			got, other := out.String(), errOut.String()
			if !tt.stdout {
				got, other = other, got
			}
			if other != "" {
				t.Errorf("the other stream got %q", other)
			}
			if tt.json {
				var rec map[string]any
				if err := json.Unmarshal([]byte(strings.TrimSpace(got)), &rec); err != nil || rec["msg"] != "hello" || rec["k"] != "v" {
					t.Errorf("not one JSON record: %q (%v)", got, err)
				}
			} else if !strings.Contains(got, "msg=hello k=v") {
				t.Errorf("text output %q", got)
			}
			if strings.Contains(got, "dbg") != tt.debugOK {
				t.Errorf("debug record present = %v, want %v", !tt.debugOK, tt.debugOK)
			}
		})
	}
}

func TestNewFileWithRotation(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "sub", "api.log")
	clk := &clock{t: local(2026, 1, 2, 15, 0, 0)}
	log, c, err := New(Options{Format: "json", Output: path, Rotation: 24 * time.Hour, Retention: 30 * 24 * time.Hour, Now: clk.Now}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("first")
	clk.Set(local(2026, 1, 3, 0, 0, 1))
	log.Info("second")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := dir(t, filepath.Dir(path)), []string{"api.log", "api.log.2026-01-03T00-00-00"}; !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
	if s := read(t, path+".2026-01-03T00-00-00"); !strings.Contains(s, `"msg":"first"`) || strings.Contains(s, "second") {
		t.Errorf("rotated file = %q", s)
	}
	if s := read(t, path); !strings.Contains(s, `"msg":"second"`) {
		t.Errorf("current file = %q", s)
	}
}

func TestNewFileErrorNamesKey(t *testing.T) {
	d := t.TempDir()
	blocker := filepath.Join(d, "file")
	os.WriteFile(blocker, nil, 0o644)
	_, _, err := New(Options{Output: filepath.Join(blocker, "api.log")}, nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "logging.output: ") {
		t.Errorf("err = %v, want one naming logging.output", err)
	}
}

// step is one write at a time, with the files expected afterwards.
type step struct {
	at    time.Time
	write string
	files []string // names in the directory after the write
}

func TestRotationByPeriod(t *testing.T) {
	tests := []struct {
		name   string
		period time.Duration
		steps  []step
	}{
		{"daily at local midnight", 24 * time.Hour, []step{
			{local(2026, 1, 2, 15, 4, 5), "a", []string{"api.log"}},
			{local(2026, 1, 2, 23, 59, 59), "b", []string{"api.log"}},
			{local(2026, 1, 3, 0, 0, 0), "c", []string{"api.log", "api.log.2026-01-03T00-00-00"}},
			{local(2026, 1, 3, 23, 0, 0), "d", []string{"api.log", "api.log.2026-01-03T00-00-00"}},
			// Days without writes: the next file is named for the end of
			// the period it covers.
			{local(2026, 1, 6, 9, 0, 0), "e", []string{"api.log", "api.log.2026-01-03T00-00-00", "api.log.2026-01-04T00-00-00"}},
		}},
		{"twelve hours at midnight and noon", 12 * time.Hour, []step{
			{local(2026, 1, 2, 1, 0, 0), "a", []string{"api.log"}},
			{local(2026, 1, 2, 11, 59, 59), "b", []string{"api.log"}},
			{local(2026, 1, 2, 12, 0, 1), "c", []string{"api.log", "api.log.2026-01-02T12-00-00"}},
			{local(2026, 1, 3, 0, 30, 0), "d", []string{"api.log", "api.log.2026-01-02T12-00-00", "api.log.2026-01-03T00-00-00"}},
		}},
		{"hourly on the hour", time.Hour, []step{
			{local(2026, 1, 2, 10, 59, 0), "a", []string{"api.log"}},
			{local(2026, 1, 2, 11, 0, 0), "b", []string{"api.log", "api.log.2026-01-02T11-00-00"}},
		}},
		{"two days from the opening day", 48 * time.Hour, []step{
			{local(2026, 1, 2, 10, 0, 0), "a", []string{"api.log"}},
			{local(2026, 1, 3, 23, 0, 0), "b", []string{"api.log"}},
			{local(2026, 1, 4, 0, 0, 0), "c", []string{"api.log", "api.log.2026-01-04T00-00-00"}},
			{local(2026, 1, 5, 12, 0, 0), "d", []string{"api.log", "api.log.2026-01-04T00-00-00"}},
			{local(2026, 1, 6, 0, 0, 0), "e", []string{"api.log", "api.log.2026-01-04T00-00-00", "api.log.2026-01-06T00-00-00"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, FileOptions{Rotation: tt.period}, tt.steps)
		})
	}
}

// runSteps opens a File at the first step's time, performs the steps and
// checks that every byte written is in exactly one file, in order.
func runSteps(t *testing.T, o FileOptions, steps []step) string {
	t.Helper()
	d := t.TempDir()
	path := filepath.Join(d, "api.log")
	clk := &clock{t: steps[0].at}
	o.Now = clk.Now
	f, err := OpenFile(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all string
	for i, s := range steps {
		clk.Set(s.at)
		if _, err := f.Write([]byte(s.write)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		all += s.write
		if got := dir(t, d); !slices.Equal(got, s.files) {
			t.Fatalf("step %d (%s): files = %v, want %v", i, s.at.Format(time.DateTime), got, s.files)
		}
	}
	var joined string
	for _, name := range dir(t, d)[1:] { // rotated, oldest first, then the current file
		joined += read(t, filepath.Join(d, name))
	}
	joined += read(t, path)
	if joined != all {
		t.Errorf("contents across files = %q, want %q", joined, all)
	}
	return d
}

func TestRotationBySize(t *testing.T) {
	at := local(2026, 1, 2, 15, 4, 5)
	later := at.Add(time.Minute)
	d := runSteps(t, FileOptions{RotateSize: 10}, []step{
		{at, "aaaa", []string{"api.log"}},
		{at, "bbbb", []string{"api.log"}},
		{at, "cc", []string{"api.log"}}, // exactly 10 bytes
		{at, "d", []string{"api.log", "api.log.2026-01-02T15-04-05"}},
		{at, "eeeeeeeeeeeeeee", []string{"api.log", "api.log.2026-01-02T15-04-05", "api.log.2026-01-02T15-04-05-1"}},
		{later, "f", []string{"api.log", "api.log.2026-01-02T15-04-05", "api.log.2026-01-02T15-04-05-1", "api.log.2026-01-02T15-05-05"}},
	})
	if got := read(t, filepath.Join(d, "api.log.2026-01-02T15-05-05")); got != "eeeeeeeeeeeeeee" {
		t.Errorf("an oversized record was split or joined: %q", got)
	}
	if got := read(t, filepath.Join(d, "api.log.2026-01-02T15-04-05-1")); got != "d" {
		t.Errorf("second rotation in one second = %q, want d", got)
	}
}

func TestRotationBySizeCountsExistingFile(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "api.log")
	os.WriteFile(path, []byte("12345678"), 0o640)
	clk := &clock{t: local(2026, 1, 2, 15, 4, 5)}
	f, err := OpenFile(path, FileOptions{RotateSize: 10, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("abc"))
	if got, want := dir(t, d), []string{"api.log", "api.log.2026-01-02T15-04-05"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestStaleFileRotatedAtOpen(t *testing.T) {
	tests := []struct {
		name    string
		mtime   time.Time
		now     time.Time
		rotated string // "" when the file is kept
	}{
		{"yesterday's file", local(2026, 1, 1, 23, 0, 0), local(2026, 1, 2, 8, 0, 0), "api.log.2026-01-02T00-00-00"},
		{"several days old", local(2025, 12, 20, 10, 0, 0), local(2026, 1, 2, 8, 0, 0), "api.log.2025-12-21T00-00-00"},
		{"today's file", local(2026, 1, 2, 1, 0, 0), local(2026, 1, 2, 8, 0, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			path := filepath.Join(d, "api.log")
			os.WriteFile(path, []byte("old\n"), 0o640)
			if err := os.Chtimes(path, tt.mtime, tt.mtime); err != nil {
				t.Fatal(err)
			}
			clk := &clock{t: tt.now}
			f, err := OpenFile(path, FileOptions{Rotation: 24 * time.Hour, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("new\n"))
			f.Close()
			want := []string{"api.log"}
			if tt.rotated != "" {
				want = append(want, tt.rotated)
			}
			if got := dir(t, d); !slices.Equal(got, want) {
				t.Fatalf("files = %v, want %v", got, want)
			}
			if tt.rotated != "" {
				if got := read(t, filepath.Join(d, tt.rotated)); got != "old\n" {
					t.Errorf("rotated = %q", got)
				}
			} else if got := read(t, path); got != "old\nnew\n" {
				t.Errorf("appended file = %q", got)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "api.log")
	now := local(2026, 2, 1, 12, 0, 0)
	keep := []string{
		"api.log.2026-01-05T00-00-00",   // 27 days
		"api.log.2026-01-02T12-00-00-1", // exactly 30 days: not older
		"api.log.bak",                   // not ours
		"api.log.2020-01-01",            // not our layout
		"api.log.2020-01-01T00-00-00x",  // not our layout
		"other.log.2020-01-01T00-00-00", // another file's
	}
	drop := []string{
		"api.log.2026-01-01T00-00-00",
		"api.log.2026-01-02T11-59-59",
		"api.log.2025-06-01T00-00-00-3",
	}
	for _, n := range append(slices.Clone(keep), drop...) {
		os.WriteFile(filepath.Join(d, n), []byte("x"), 0o640)
	}
	clk := &clock{t: now}
	f, err := OpenFile(path, FileOptions{Rotation: 24 * time.Hour, Retention: 30 * 24 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := append([]string{"api.log"}, keep...)
	slices.Sort(want)
	if got := dir(t, d); !slices.Equal(got, want) {
		t.Fatalf("after open: files = %v, want %v", got, want)
	}

	// A rotation looks again: a day later the 30-day-old file is 31 days old.
	clk.Set(now.Add(24 * time.Hour))
	f.Write([]byte("x"))
	got := dir(t, d)
	if slices.Contains(got, "api.log.2026-01-02T12-00-00-1") || !slices.Contains(got, "api.log.2026-01-05T00-00-00") {
		t.Errorf("after rotation: files = %v", got)
	}
}

func TestRetentionWithoutRotation(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "api.log")
	now := local(2026, 2, 1, 12, 0, 0)
	old := filepath.Join(d, "api.log.2026-01-25T12-10-00") // expires at 2026-02-01 12:10
	os.WriteFile(old, []byte("x"), 0o640)
	clk := &clock{t: now}
	f, err := OpenFile(path, FileOptions{RotateSize: 1 << 20, Retention: 7 * 24 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clk.Set(now.Add(30 * time.Minute)) // expired, but the hourly look is not due
	f.Write([]byte("a"))
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("deleted before the hourly look: %v", err)
	}
	clk.Set(now.Add(61 * time.Minute))
	f.Write([]byte("b"))
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("expired file still there after the hourly look: %v", err)
	}
}

func TestDailyRotationAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	saved := time.Local
	time.Local = ny
	defer func() { time.Local = saved }()
	// 2026-03-08 is 23 hours long in New York: the day still rotates at
	// its midnights, not every 24 hours.
	runSteps(t, FileOptions{Rotation: 24 * time.Hour}, []step{
		{local(2026, 3, 7, 12, 0, 0), "a", []string{"api.log"}},
		{local(2026, 3, 8, 0, 0, 0), "b", []string{"api.log", "api.log.2026-03-08T00-00-00"}},
		{local(2026, 3, 8, 23, 30, 0), "c", []string{"api.log", "api.log.2026-03-08T00-00-00"}},
		{local(2026, 3, 9, 0, 0, 0), "d", []string{"api.log", "api.log.2026-03-08T00-00-00", "api.log.2026-03-09T00-00-00"}},
	})
}

func TestConcurrentWritesKeepRecordsWhole(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "api.log")
	clk := &clock{t: local(2026, 1, 2, 15, 0, 0)}
	f, err := OpenFile(path, FileOptions{RotateSize: 4096, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i%50 == 0 {
					clk.Set(clk.Now().Add(time.Second))
				}
				fmt.Fprintf(f, "writer %d record %03d\n", w, i)
			}
		}()
	}
	wg.Wait()
	f.Close()
	lines := 0
	names := dir(t, d)
	if len(names) < 3 {
		t.Fatalf("only %d files: no rotation happened", len(names))
	}
	for _, n := range names {
		s := read(t, filepath.Join(d, n))
		if len(s) > 4096 {
			t.Errorf("%s is %d bytes, over the rotation size", n, len(s))
		}
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			var w, i int
			if _, err := fmt.Sscanf(l, "writer %d record %d", &w, &i); err != nil {
				t.Fatalf("%s: broken record %q", n, l)
			}
			lines++
		}
	}
	if lines != writers*each {
		t.Errorf("%d records across files, want %d", lines, writers*each)
	}
}

func TestClosedFile(t *testing.T) {
	f, err := OpenFile(filepath.Join(t.TempDir(), "api.log"), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	if err := f.Rotate(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Rotate after Close = %v, want os.ErrClosed", err)
	}
}

func TestManualRotate(t *testing.T) {
	d := t.TempDir()
	clk := &clock{t: local(2026, 1, 2, 15, 4, 5)}
	f, err := OpenFile(filepath.Join(d, "api.log"), FileOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("a"))
	if err := f.Rotate(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("b"))
	if got, want := dir(t, d), []string{"api.log", "api.log.2026-01-02T15-04-05"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func BenchmarkFileWrite(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "api.log"), FileOptions{Rotation: 24 * time.Hour, RotateSize: 1 << 20, Retention: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := []byte(`{"time":"2026-01-02T15:04:05Z","level":"INFO","msg":"REGISTER","line":"kitchen"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		f.Write(rec)
	}
}

func TestFileOutputSaysWhereOnStderr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sipphone.log")
	var stdout, stderr strings.Builder
	log, closer, err := New(Options{Output: path, Format: "text"}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	log.Info("hello")
	if got := stderr.String(); strings.Count(got, path) != 1 || !strings.Contains(got, "logging to") {
		t.Fatalf("stderr %q, want one line naming %s", got, path)
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout %q, want nothing", stdout.String())
	}
}
