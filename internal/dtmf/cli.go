package dtmf

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// The "sipphone dtmf" command: the detector applied to a recording.

const cliUsage = `usage: sipphone dtmf detect [--json] FILE.wav
       sipphone dtmf detect [--json] -          read the WAV file from stdin

Finds the DTMF key presses in a WAV file (16-bit or 8-bit PCM at any rate,
mu-law or A-law; stereo is mixed down) and prints one line per key: the key,
when its tone starts and how long it lasts. --json prints one JSON object per
line instead: {"digit":"1","start_ms":50,"duration_ms":50}. A summary goes to
stderr. The exit status is 0 whenever the file could be read, even when it
holds no key.
`

// UsageError is a mistake in how the command was invoked: an unknown flag,
// a missing argument or an unknown subcommand. Programs exit with status 2
// for it.
type UsageError struct{ Err error }

// Error returns the message, which names the flag or argument at fault.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// FlagError marks the error as a usage error for callers that test for
// interface{ FlagError() }.
func (e *UsageError) FlagError() {}

// Digit is one key press found in a file, as printed by the command.
type Digit struct {
	Digit      string `json:"digit"`
	StartMS    int64  `json:"start_ms"`
	DurationMS int64  `json:"duration_ms"`
}

// RunCLI runs "sipphone dtmf" with args such as ["detect", "FILE.wav",
// "--json"]; the file "-" is read from os.Stdin. See RunCLIWithStdin.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return RunCLIWithStdin(ctx, args, os.Stdin, stdout, stderr)
}

// RunCLIWithStdin is RunCLI reading the file "-" from stdin. Detected keys
// go to stdout, the summary to stderr. It returns a *UsageError for bad
// arguments, and an error naming the file when it cannot be read.
func RunCLIWithStdin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, cliUsage)
		return &UsageError{errors.New("dtmf: missing command; known: detect")}
	}
	switch args[0] {
	case "detect":
		return cliDetect(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, cliUsage)
		return nil
	}
	return &UsageError{fmt.Errorf("dtmf: unknown command %q; known: detect", args[0])}
}

// cliDetect runs "dtmf detect".
func cliDetect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dtmf detect", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage is printed once below
	asJSON := fs.Bool("json", false, "print one JSON object per key")
	// Flags may follow the file name ("detect FILE.wav --json"): parse,
	// take one positional argument, parse the rest again.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, cliUsage)
				return nil
			}
			fmt.Fprint(stderr, cliUsage)
			return &UsageError{fmt.Errorf("dtmf detect: %w", err)}
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(files) == 0:
		fmt.Fprint(stderr, cliUsage)
		return &UsageError{errors.New("dtmf detect: missing the FILE.wav argument (- reads stdin)")}
	case len(files) > 1:
		return &UsageError{fmt.Errorf("dtmf detect: one file at a time, got %d: %s", len(files), strings.Join(files, " "))}
	}

	name := files[0]
	in, closeIn, err := cliOpen(name, stdin)
	if err != nil {
		return fmt.Errorf("dtmf detect: %w", err)
	}
	defer closeIn()
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	var keys strings.Builder
	var werr error
	found := func(d Digit) {
		keys.WriteString(d.Digit)
		if werr != nil {
			return
		}
		if *asJSON {
			werr = enc.Encode(d)
		} else {
			_, werr = fmt.Fprintf(out, "%s  start %.3fs  duration %.3fs\n", d.Digit,
				float64(d.StartMS)/1000, float64(d.DurationMS)/1000)
		}
	}
	w, samples, err := DetectWAVStream(ctx, in, found)
	if err == nil && werr == nil {
		werr = out.Flush()
	}
	if err != nil {
		return fmt.Errorf("dtmf detect: %s: %w", cliDisplayName(name), err)
	}
	if werr != nil {
		return fmt.Errorf("dtmf detect: writing output: %w", werr)
	}
	n := keys.Len()
	summary := fmt.Sprintf("%d digits", n)
	if n == 1 {
		summary = "1 digit"
	}
	if n > 0 {
		summary += " (" + keys.String() + ")"
	}
	secs := float64(samples) / float64(w.SampleRate)
	fmt.Fprintf(stderr, "%s in %s: %.3f s, %s\n", summary, cliDisplayName(name), secs, cliDescribe(w))
	return nil
}

// cliOpen opens the named file, or stdin for "-"; errors name the file.
func cliOpen(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		if stdin == nil {
			return nil, nil, errors.New("stdin: no standard input")
		}
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err // *PathError: "open NAME: no such file or directory"
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: is a directory, not a WAV file", name)
	}
	return f, func() { f.Close() }, nil
}

func cliDisplayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// cliDescribe says what the file holds, e.g. "8000 Hz, 16-bit PCM, mono".
func cliDescribe(w *dsp.WAV) string {
	enc := fmt.Sprintf("%d-bit PCM", w.BitsPerSample)
	switch w.FormatTag {
	case dsp.WAVFormatMuLaw:
		enc = "mu-law"
	case dsp.WAVFormatALaw:
		enc = "A-law"
	}
	ch := "mono"
	if w.Channels == 2 {
		ch = "stereo, mixed down"
	} else if w.Channels > 2 {
		ch = fmt.Sprintf("%d channels, mixed down", w.Channels)
	}
	s := fmt.Sprintf("%d Hz, %s, %s", w.SampleRate, enc, ch)
	if w.SampleRate != cliRate {
		s += fmt.Sprintf(", resampled to %d Hz", cliRate)
	}
	return s
}

// cliRate is the rate the detector runs at: its figures are tested at the
// G.711 rate.
const cliRate = 8000

// DetectWAV finds the key presses in a decoded WAV file, resampled to
// 8000 Hz when needed, with the default detector. Times are counted from
// the file's first sample and rounded to the millisecond. It stops early
// with ctx's error when ctx is cancelled.
func DetectWAV(ctx context.Context, w *dsp.WAV) ([]Digit, error) {
	pcm := w.Samples
	if w.SampleRate != cliRate {
		var err error
		if pcm, err = dsp.Resample(pcm, w.SampleRate, cliRate); err != nil {
			return nil, err
		}
	}
	var digits []Digit
	emit := func(e Event) {
		if e.Kind == End {
			digits = append(digits, Digit{Digit: string(e.Digit), StartMS: cliMillis(e.Start), DurationMS: cliMillis(e.Duration)})
		}
	}
	d := NewDetector(Config{SampleRate: cliRate})
	const chunk = 10 * cliRate // check for cancellation every 10 s of audio
	for len(pcm) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(chunk, len(pcm))
		d.Process(pcm[:n], emit)
		pcm = pcm[n:]
	}
	d.Flush(emit)
	return digits, nil
}

func cliMillis(d time.Duration) int64 {
	return int64(d.Round(time.Millisecond) / time.Millisecond)
}
