package dtmf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/dtmf"
)

// keypad is the sixteen keys in keypad order and their tone pairs (ITU-T Q.23).
const keypad = "123A456B789C*0#D"

var (
	rowHz = [4]float64{697, 770, 852, 941}
	colHz = [4]float64{1209, 1336, 1477, 1633}
)

// Timing of the generated key sequence: the 50 ms on, 50 ms off.
const (
	leadMS = 100
	onMS   = 50
	offMS  = 50
)

// sixteenKeys returns all sixteen keys at -10 dBm0 per tone, 50 ms on and
// 50 ms off after leadMS of silence, at 8 kHz and after a G.711 mu-law round
// trip, as they arrive from the phone.
func sixteenKeys() []int16 {
	const rate = 8000
	var pcm []int16
	pcm = append(pcm, make([]int16, leadMS*rate/1000)...)
	for i := range keypad {
		tone := make([]int16, onMS*rate/1000)
		dsp.DualTone(tone, rate, rowHz[i/4], -10, colHz[i%4], -10, nil, nil)
		pcm = append(pcm, tone...)
		pcm = append(pcm, make([]int16, offMS*rate/1000)...)
	}
	g := make([]byte, len(pcm))
	dsp.EncodeUlaw(g, pcm)
	dsp.DecodeUlaw(pcm, g)
	return pcm
}

// stereoWAV writes a 16-bit PCM stereo WAV with pcm on both channels.
func stereoWAV(rate int, pcm []int16) []byte {
	le := binary.LittleEndian
	var b []byte
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(36+4*len(pcm)))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, dsp.WAVFormatPCM)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*4))
	b = le.AppendUint16(b, 4)
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(4*len(pcm)))
	for _, v := range pcm {
		b = le.AppendUint16(b, uint16(v))
		b = le.AppendUint16(b, uint16(v))
	}
	return b
}

// wavFile encodes pcm (8 kHz) as a WAV file: in format f, resampled to rate.
func wavFile(t *testing.T, pcm []int16, rate int, f dsp.Format) []byte {
	t.Helper()
	if rate != 8000 {
		var err error
		if pcm, err = dsp.Resample(pcm, 8000, rate); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := dsp.WriteWAVFormat(&buf, rate, f, pcm); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runDetect runs the command and returns stdout, stderr and the error.
func runDetect(stdin []byte, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := dtmf.RunCLIWithStdin(context.Background(), args, bytes.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

var humanLine = regexp.MustCompile(`^([0-9A-D*#])  start (\d+\.\d{3})s  duration (\d+\.\d{3})s$`)

// checkSixteen checks digits against the generated sequence: every key in
// order, each starting and lasting as generated to within tolMS.
func checkSixteen(t *testing.T, got []dtmf.Digit, tolMS int64) {
	t.Helper()
	var keys strings.Builder
	for _, d := range got {
		keys.WriteString(d.Digit)
	}
	if keys.String() != keypad {
		t.Fatalf("digits %q, want exactly %q", keys.String(), keypad)
	}
	for i, d := range got {
		start := int64(leadMS + i*(onMS+offMS))
		if abs(d.StartMS-start) > tolMS || abs(d.DurationMS-onMS) > tolMS {
			t.Errorf("digit %d (%s): start %d ms, duration %d ms; want %d ms and %d ms (±%d)", i, d.Digit, d.StartMS, d.DurationMS, start, onMS, tolMS)
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// parseHuman reads the human output back into digits.
func parseHuman(t *testing.T, out string) []dtmf.Digit {
	t.Helper()
	var ds []dtmf.Digit
	for _, ln := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if ln == "" {
			continue
		}
		m := humanLine.FindStringSubmatch(ln)
		if m == nil {
			t.Fatalf("output line %q is not \"KEY  start S.SSSs  duration S.SSSs\"", ln)
		}
		s, _ := strconv.ParseFloat(m[2], 64)
		d, _ := strconv.ParseFloat(m[3], 64)
		ds = append(ds, dtmf.Digit{Digit: m[1], StartMS: int64(math.Round(s * 1000)), DurationMS: int64(math.Round(d * 1000))})
	}
	return ds
}

// TestDetectSixteenDigits is the done-when: a WAV of all sixteen
// keys (50 ms on, 50 ms off, -10 dBm0, through G.711) yields exactly those
// keys in order, in every encoding the command reads.
func TestDetectSixteenDigits(t *testing.T) {
	pcm := sixteenKeys()
	cases := []struct {
		name    string
		file    []byte
		summary string // part of the stderr summary
	}{
		{"pcm16 8 kHz", wavFile(t, pcm, 8000, dsp.FormatPCM16), "8000 Hz, 16-bit PCM, mono"},
		{"mu-law 8 kHz", wavFile(t, pcm, 8000, dsp.FormatUlaw), "8000 Hz, mu-law, mono"},
		{"A-law 8 kHz", wavFile(t, pcm, 8000, dsp.FormatAlaw), "8000 Hz, A-law, mono"},
		{"pcm16 16 kHz", wavFile(t, pcm, 16000, dsp.FormatPCM16), "16000 Hz, 16-bit PCM, mono, resampled to 8000 Hz"},
		{"pcm16 44.1 kHz", wavFile(t, pcm, 44100, dsp.FormatPCM16), "44100 Hz, 16-bit PCM, mono, resampled to 8000 Hz"},
		{"pcm16 stereo", stereoWAV(8000, pcm), "8000 Hz, 16-bit PCM, stereo, mixed down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "keys.wav", tc.file)
			out, errOut, err := runDetect(nil, "detect", path)
			if err != nil {
				t.Fatalf("detect: %v (stderr %q)", err, errOut)
			}
			checkSixteen(t, parseHuman(t, out), 3)
			if want := "16 digits (" + keypad + ") in " + path + ": 1.700 s, " + tc.summary + "\n"; errOut != want {
				t.Errorf("stderr %q, want %q", errOut, want)
			}
		})
	}
}

// TestDetectJSON: --json, before or after the file and from stdin, prints
// one object per line with exactly digit, start_ms and duration_ms.
func TestDetectJSON(t *testing.T) {
	file := wavFile(t, sixteenKeys(), 8000, dsp.FormatUlaw)
	path := writeFile(t, "keys.wav", file)
	cases := []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"flag after file", nil, []string{"detect", path, "--json"}},
		{"flag before file", nil, []string{"detect", "-json", path}},
		{"stdin", file, []string{"detect", "-", "--json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runDetect(tc.stdin, tc.args...)
			if err != nil {
				t.Fatalf("detect: %v (stderr %q)", err, errOut)
			}
			var got []dtmf.Digit
			for _, ln := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(ln), &m); err != nil {
					t.Fatalf("line %q is not a JSON object: %v", ln, err)
				}
				if len(m) != 3 || m["digit"] == nil || m["start_ms"] == nil || m["duration_ms"] == nil {
					t.Fatalf("line %q: want exactly digit, start_ms, duration_ms", ln)
				}
				var d dtmf.Digit
				json.Unmarshal([]byte(ln), &d)
				got = append(got, d)
			}
			checkSixteen(t, got, 3)
			if !strings.HasPrefix(errOut, "16 digits (") {
				t.Errorf("stderr %q, want the count", errOut)
			}
		})
	}
	// The first line, exactly as the issue shows the format.
	out, _, _ := runDetect(nil, "detect", path, "--json")
	if first := strings.SplitN(out, "\n", 2)[0]; first != `{"digit":"1","start_ms":100,"duration_ms":50}` {
		t.Errorf("first line %s", first)
	}
}

// TestDetectNoDigits: a readable file without keys is a success with no
// output and a zero count.
func TestDetectNoDigits(t *testing.T) {
	pcm := make([]int16, 8000)
	dsp.Tone(pcm, 8000, 440, -10, nil) // dial tone-like: one tone, not a key
	path := writeFile(t, "tone.wav", wavFile(t, pcm, 8000, dsp.FormatPCM16))
	out, errOut, err := runDetect(nil, "detect", path)
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	if out != "" || !strings.HasPrefix(errOut, "0 digits in "+path+": 1.000 s") {
		t.Errorf("stdout %q, stderr %q; want nothing and a count of 0", out, errOut)
	}
}

// floatWAV is a well-formed 32-bit IEEE float WAV, which the reader refuses.
func floatWAV() []byte {
	le := binary.LittleEndian
	var b []byte
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, 36+16)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 3) // WAVE_FORMAT_IEEE_FLOAT
	b = le.AppendUint16(b, 1)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, 32000)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint16(b, 32)
	b = append(b, "data"...)
	b = le.AppendUint32(b, 16)
	return append(b, make([]byte, 16)...)
}

// TestDetectUnreadable: what cannot be read fails with a message naming
// the file and what is wrong, and prints no digits.
func TestDetectUnreadable(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		path  string // created with data unless data is nil
		data  []byte
		stdin []byte
		want  []string // parts of the message
		is    error
	}{
		{"text file", filepath.Join(dir, "notes.txt"), []byte("these are not samples\n"), nil,
			[]string{"notes.txt", "not a RIFF/WAVE file"}, dsp.ErrInvalidWAV},
		{"float WAV", filepath.Join(dir, "float.wav"), floatWAV(), nil,
			[]string{"float.wav", "IEEE float", "convert to 16-bit PCM"}, dsp.ErrUnsupportedWAV},
		{"empty file", filepath.Join(dir, "empty.wav"), []byte{}, nil,
			[]string{"empty.wav", "empty input"}, dsp.ErrInvalidWAV},
		{"missing file", filepath.Join(dir, "missing.wav"), nil, nil,
			[]string{"missing.wav", "no such file"}, os.ErrNotExist},
		{"directory", dir, nil, nil, []string{dir, "is a directory"}, nil},
		{"text on stdin", "-", nil, []byte("hello, this is plain text\n"), []string{"stdin", "not a RIFF/WAVE file"}, dsp.ErrInvalidWAV},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.data != nil {
				if err := os.WriteFile(tc.path, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, _, err := runDetect(tc.stdin, "detect", tc.path)
			if err == nil {
				t.Fatal("detect succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			var ue *dtmf.UsageError
			if errors.As(err, &ue) {
				t.Errorf("error %v is a usage error; a bad file is not", err)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

// TestUsageErrors: bad invocations are usage errors naming what is wrong.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"decode", "x.wav"}, `unknown command "decode"`},
		{"unknown flag", []string{"detect", "x.wav", "--jsn"}, "-jsn"},
		{"flag with value", []string{"detect", "--json=maybe", "x.wav"}, "-json"},
		{"no file", []string{"detect", "--json"}, "missing the FILE.wav argument"},
		{"two files", []string{"detect", "a.wav", "b.wav"}, "one file at a time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runDetect(nil, tc.args...)
			var ue *dtmf.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v, want a *UsageError", err)
			}
			var fe interface{ FlagError() }
			if !errors.As(err, &fe) {
				t.Errorf("error %v does not mark itself with FlagError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestHelp prints the usage and succeeds.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"detect", "--help"}} {
		out, _, err := runDetect(nil, args...)
		if err != nil || !strings.Contains(out, "sipphone dtmf detect [--json] FILE.wav") {
			t.Errorf("%v: err %v, stdout %q", args, err, out)
		}
	}
}

// TestDetectCancelled: a cancelled context stops the detection.
func TestDetectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := dtmf.DetectWAV(ctx, &dsp.WAV{SampleRate: 8000, Channels: 1, Samples: sixteenKeys()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// BenchmarkDetectWAV measures the command's work on the sixteen-key file
// (1.7 s of audio), as read at 8 kHz and as resampled from 44.1 kHz.
func BenchmarkDetectWAV(b *testing.B) {
	pcm := sixteenKeys()
	hi, err := dsp.Resample(pcm, 8000, 44100)
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range []*dsp.WAV{{SampleRate: 8000, Channels: 1, Samples: pcm}, {SampleRate: 44100, Channels: 1, Samples: hi}} {
		b.Run(strconv.Itoa(w.SampleRate), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ds, err := dtmf.DetectWAV(context.Background(), w); err != nil || len(ds) != 16 {
					b.Fatalf("%d digits, %v", len(ds), err)
				}
			}
		})
	}
}
