package dsp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the committed seed corpus under testdata/fuzz/FuzzReadWAV")

// A riffChunk is one chunk of a hand-built WAV fixture.
type riffChunk struct {
	id    string
	body  []byte
	size  int64 // declared size when not len(body); -1 means len(body)
	noPad bool  // omit the pad byte after an odd-sized body, as some writers do
}

func chunk(id string, body []byte) riffChunk { return riffChunk{id: id, body: body, size: -1} }

// riff builds a file from chunks; the RIFF size is computed.
func riff(magic string, chunks ...riffChunk) []byte {
	var b []byte
	for _, c := range chunks {
		b = append(b, c.id...)
		size := c.size
		if size < 0 {
			size = int64(len(c.body))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(size))
		b = append(b, c.body...)
		if len(c.body)%2 == 1 && !c.noPad {
			b = append(b, 0)
		}
	}
	head := append([]byte(magic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(head[4:], uint32(len(b)+4))
	return append(append(head, "WAVE"...), b...)
}

// fmtBody is a plain 16-byte fmt chunk body.
func fmtBody(tag, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, uint16(tag))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	return le.AppendUint16(b, uint16(bits))
}

// extBody is a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk body.
func extBody(subTag, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := fmtBody(WAVFormatExtensible, channels, rate, bits)
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, uint16(bits))
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, uint16(subTag))
	return append(b, extensibleGUIDSuffix[:]...)
}

func pcm16(vals ...int16) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

var pcmFmt = chunk("fmt ", fmtBody(WAVFormatPCM, 1, 8000, 16))

// wavFixtures are hand-built files ReadWAV must decode; they also seed the
// fuzz corpus.
var wavFixtures = []struct {
	name    string
	data    []byte
	rate    int
	chans   int
	tag     int
	bits    int
	samples []int16
}{
	{"pcm16 mono", riff("RIFF", pcmFmt, chunk("data", pcm16(0, 1, -1, 32767, -32768))),
		8000, 1, WAVFormatPCM, 16, []int16{0, 1, -1, 32767, -32768}},
	{"pcm16 stereo is averaged", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 2, 44100, 16)),
		chunk("data", pcm16(100, 300, -1, 0, 32767, 32767, -32768, -32768))),
		44100, 2, WAVFormatPCM, 16, []int16{200, 0, 32767, -32768}},
	{"pcm8 unsigned", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 1, 11025, 8)), chunk("data", []byte{0x80, 0xFF, 0x00, 0x81})),
		11025, 1, WAVFormatPCM, 8, []int16{0, 32512, -32768, 256}},
	{"mu-law", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatMuLaw, 1, 8000, 8)), chunk("fact", []byte{2, 0, 0, 0}),
		chunk("data", []byte{0xFF, 0x80})),
		8000, 1, WAVFormatMuLaw, 8, []int16{0, 32124}},
	{"A-law with odd data and pad byte", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatALaw, 1, 8000, 8)), chunk("data", []byte{0xD5, 0xAA, 0x2A})),
		8000, 1, WAVFormatALaw, 8, []int16{8, 32256, -32256}},
	{"skips LIST and fact, odd LIST padded", riff("RIFF", chunk("LIST", []byte("INFOISFT\x03\x00\x00\x00ab\x00")), pcmFmt,
		chunk("fact", []byte{1, 0, 0, 0}), chunk("data", pcm16(42))),
		8000, 1, WAVFormatPCM, 16, []int16{42}},
	{"odd chunk without pad byte", riff("RIFF", riffChunk{id: "junk", body: []byte{1, 2, 3}, size: -1, noPad: true}, pcmFmt, chunk("data", pcm16(7))),
		8000, 1, WAVFormatPCM, 16, []int16{7}},
	{"long fmt chunk", riff("RIFF", chunk("fmt ", append(fmtBody(WAVFormatPCM, 1, 8000, 16), 0, 0, 9, 9)), chunk("data", pcm16(5))),
		8000, 1, WAVFormatPCM, 16, []int16{5}},
	{"data size 0 reads to end", riff("RIFF", pcmFmt, riffChunk{id: "data", body: pcm16(1, 2, 3), size: 0}),
		8000, 1, WAVFormatPCM, 16, []int16{1, 2, 3}},
	{"data size 0xFFFFFFFF reads to end", riff("RIFF", pcmFmt, riffChunk{id: "data", body: pcm16(1, 2), size: 0xFFFFFFFF}),
		8000, 1, WAVFormatPCM, 16, []int16{1, 2}},
	{"sox pipe data size 0x7FFFF000", riff("RIFF", pcmFmt, riffChunk{id: "data", body: pcm16(4, 5), size: 0x7FFFF000}),
		8000, 1, WAVFormatPCM, 16, []int16{4, 5}},
	{"truncated data yields what is there", riff("RIFF", pcmFmt, riffChunk{id: "data", body: pcm16(1, 2), size: 100}),
		8000, 1, WAVFormatPCM, 16, []int16{1, 2}},
	{"trailing partial sample ignored", riff("RIFF", pcmFmt, riffChunk{id: "data", body: append(pcm16(9), 0x01), size: 3, noPad: true}),
		8000, 1, WAVFormatPCM, 16, []int16{9}},
	{"chunks after data ignored", riff("RIFF", pcmFmt, chunk("data", pcm16(6)), chunk("LIST", []byte("INFO"))),
		8000, 1, WAVFormatPCM, 16, []int16{6}},
	{"empty data", riff("RIFF", pcmFmt, chunk("data", nil)),
		8000, 1, WAVFormatPCM, 16, []int16{}},
	{"extensible pcm16 3 channels", riff("RIFF", chunk("fmt ", extBody(WAVFormatPCM, 3, 48000, 16)), chunk("data", pcm16(3, 6, 9))),
		48000, 3, WAVFormatPCM, 16, []int16{6}},
	{"extensible mu-law", riff("RIFF", chunk("fmt ", extBody(WAVFormatMuLaw, 1, 8000, 8)), chunk("data", []byte{0x00})),
		8000, 1, WAVFormatMuLaw, 8, []int16{-32124}},
	{"RF64 with ds64", riff("RF64", chunk("ds64", binary.LittleEndian.AppendUint64(make([]byte, 8), 4)),
		pcmFmt, riffChunk{id: "data", body: pcm16(11, 12), size: 0xFFFFFFFF}),
		8000, 1, WAVFormatPCM, 16, []int16{11, 12}},
}

func TestReadWAV(t *testing.T) {
	for _, tt := range wavFixtures {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ReadWAV(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if w.SampleRate != tt.rate || w.Channels != tt.chans || w.FormatTag != tt.tag || w.BitsPerSample != tt.bits {
				t.Errorf("got rate %d, %d channels, tag %d, %d bits; want %d, %d, %d, %d",
					w.SampleRate, w.Channels, w.FormatTag, w.BitsPerSample, tt.rate, tt.chans, tt.tag, tt.bits)
			}
			if !equalInt16(w.Samples, tt.samples) {
				t.Errorf("samples %v, want %v", w.Samples, tt.samples)
			}
		})
	}
}

func TestReadWAVErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty input", nil, ErrInvalidWAV, "dsp: invalid WAV: empty input"},
		{"not RIFF", []byte("ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00 an mp3"), ErrInvalidWAV, "not a RIFF/WAVE file"},
		{"RIFF without form type", riff("RIFF")[:8], ErrInvalidWAV, "truncated RIFF header"},
		{"RIFF AVI form", append([]byte("RIFF\x04\x00\x00\x00AVI "), 0), ErrInvalidWAV, "not a RIFF/WAVE file"},
		{"big-endian RIFX", []byte("RIFX\x00\x00\x00\x24WAVEfmt "), ErrUnsupportedWAV, "big-endian RIFX"},
		{"truncated header", []byte("RIFF\x24\x00"), ErrInvalidWAV, "dsp: invalid WAV: truncated RIFF header"},
		{"no chunks", riff("RIFF"), ErrInvalidWAV, "no fmt chunk"},
		{"no data chunk", riff("RIFF", pcmFmt), ErrInvalidWAV, "no data chunk"},
		{"data before fmt", riff("RIFF", chunk("data", pcm16(1)), pcmFmt), ErrInvalidWAV, "data chunk before fmt chunk"},
		{"truncated fmt", riff("RIFF", pcmFmt)[:30], ErrInvalidWAV, "truncated fmt chunk"},
		{"truncated chunk", riff("RIFF", riffChunk{id: "LIST", body: []byte("INFO"), size: 100}, pcmFmt), ErrInvalidWAV, "truncated chunk"},
		{"short fmt", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 1, 8000, 16)[:14]), chunk("data", nil)), ErrInvalidWAV, "fmt chunk of 14 bytes, want at least 16"},
		{"zero channels", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 0, 8000, 16)), chunk("data", nil)), ErrInvalidWAV, "0 channels"},
		{"zero rate", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 1, 0, 16)), chunk("data", nil)), ErrInvalidWAV, "0 samples per second"},
		{"absurd rate", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 1, 1093677104, 16)), chunk("data", nil)), ErrUnsupportedWAV, "1093677104 samples per second"},
		{"IEEE float", riff("RIFF", chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", nil)), ErrUnsupportedWAV,
			"dsp: unsupported WAV format: IEEE float (3); convert to 16-bit PCM, mu-law or A-law"},
		{"24-bit PCM", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 1, 8000, 24)), chunk("data", nil)), ErrUnsupportedWAV,
			"dsp: unsupported WAV format: 24-bit PCM; convert to 16-bit PCM, mu-law or A-law"},
		{"32-bit PCM", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 2, 8000, 32)), chunk("data", nil)), ErrUnsupportedWAV, "32-bit PCM"},
		{"MS ADPCM", riff("RIFF", chunk("fmt ", fmtBody(2, 1, 8000, 4)), chunk("data", nil)), ErrUnsupportedWAV, "Microsoft ADPCM (2)"},
		{"MP3", riff("RIFF", chunk("fmt ", fmtBody(0x55, 1, 8000, 0)), chunk("data", nil)), ErrUnsupportedWAV, "MPEG layer 3 (85)"},
		{"unknown tag", riff("RIFF", chunk("fmt ", fmtBody(0x1234, 1, 8000, 16)), chunk("data", nil)), ErrUnsupportedWAV, "format tag 0x1234"},
		{"16-bit mu-law", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatMuLaw, 1, 8000, 16)), chunk("data", nil)), ErrInvalidWAV, "mu-law with 16 bits per sample"},
		{"extensible float", riff("RIFF", chunk("fmt ", extBody(3, 1, 48000, 32)), chunk("data", nil)), ErrUnsupportedWAV, "IEEE float (3)"},
		{"extensible 24-bit", riff("RIFF", chunk("fmt ", extBody(WAVFormatPCM, 2, 48000, 24)), chunk("data", nil)), ErrUnsupportedWAV, "24-bit PCM"},
		{"extensible too short", riff("RIFF", chunk("fmt ", extBody(WAVFormatPCM, 1, 8000, 16)[:18]), chunk("data", nil)), ErrInvalidWAV, "WAVE_FORMAT_EXTENSIBLE fmt chunk of 18 bytes"},
		{"extensible foreign GUID", riff("RIFF", chunk("fmt ", append(extBody(WAVFormatPCM, 1, 8000, 16)[:26], make([]byte, 14)...)), chunk("data", nil)), ErrUnsupportedWAV, "subformat GUID"},
		{"short ds64", riff("RF64", chunk("ds64", make([]byte, 8)), pcmFmt), ErrInvalidWAV, "ds64 chunk of 8 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ReadWAV(bytes.NewReader(tt.data))
			if err == nil {
				t.Fatalf("ReadWAV succeeded with %d samples, want error", len(w.Samples))
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestReadWAVLimit(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"declared and present within limit", riff("RIFF", pcmFmt, chunk("data", make([]byte, limit))), false},
		{"declared over limit, present over", riff("RIFF", pcmFmt, chunk("data", make([]byte, limit+2))), true},
		{"declared over limit, little present", riff("RIFF", pcmFmt, riffChunk{id: "data", body: make([]byte, 10), size: 1 << 30}), false},
		{"streamed within limit", riff("RIFF", pcmFmt, riffChunk{id: "data", body: make([]byte, limit), size: 0}), false},
		{"streamed over limit", riff("RIFF", pcmFmt, riffChunk{id: "data", body: make([]byte, limit+2), size: 0xFFFFFFFF}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadWAVLimit(bytes.NewReader(tt.data), limit)
			if tt.wantErr {
				if !errors.Is(err, ErrWAVTooLarge) || !strings.Contains(err.Error(), "more than 1000 bytes") {
					t.Errorf("error %v, want ErrWAVTooLarge naming the limit", err)
				}
			} else if err != nil {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

// Sizes claimed in a header must not decide how much memory is allocated.
func TestReadWAVLyingHeaderAllocatesLittle(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"huge data size", riff("RIFF", pcmFmt, riffChunk{id: "data", body: pcm16(1), size: 0xFFFFFFFE})},
		{"huge RF64 size", riff("RF64", chunk("ds64", binary.LittleEndian.AppendUint64(make([]byte, 8), 1<<60)),
			pcmFmt, riffChunk{id: "data", body: pcm16(1), size: 0xFFFFFFFF})},
		{"65535 channels", riff("RIFF", chunk("fmt ", fmtBody(WAVFormatPCM, 65535, 8000, 16)), riffChunk{id: "data", body: pcm16(1), size: 0x7FFFFFFF})},
		{"huge skipped chunk", riff("RIFF", riffChunk{id: "junk", body: nil, size: 0xFFFFFFFF}, pcmFmt)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _ = ReadWAVLimit(bytes.NewReader(tt.data), 1<<40)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(tt.data))
			}
		})
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadWAVPassesReaderErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	data := riff("RIFF", pcmFmt, riffChunk{id: "data", body: pcm16(1, 2), size: 100})
	for _, cut := range []int{5, 20, len(data)} {
		_, err := ReadWAV(&failingReader{bytes.NewReader(data[:cut]), boom})
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: error %v does not wrap the reader's error", cut, err)
		}
	}
}

func TestWAVDuration(t *testing.T) {
	w := &WAV{SampleRate: 8000, Samples: make([]int16, 12000)}
	if d := w.Duration(); d != 1500*time.Millisecond {
		t.Errorf("Duration = %v, want 1.5s", d)
	}
	if d := (&WAV{}).Duration(); d != 0 {
		t.Errorf("zero WAV Duration = %v", d)
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	samples := make([]int16, 2501) // odd: the G.711 data chunk needs a pad byte
	Tone(samples, 8000, 1000, -3, nil)
	samples[0], samples[1] = math16Min, math16Max
	tests := []struct {
		f   Format
		tag int
	}{
		{FormatPCM16, WAVFormatPCM},
		{FormatUlaw, WAVFormatMuLaw},
		{FormatAlaw, WAVFormatALaw},
	}
	for _, tt := range tests {
		t.Run(tt.f.String(), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteWAVFormat(&buf, 8000, tt.f, samples); err != nil {
				t.Fatal(err)
			}
			if buf.Len()%2 != 0 {
				t.Errorf("file of %d bytes: RIFF chunks must be padded to even size", buf.Len())
			}
			if riffLen := binary.LittleEndian.Uint32(buf.Bytes()[4:8]); int(riffLen) != buf.Len()-8 {
				t.Errorf("RIFF size %d, file has %d bytes after it", riffLen, buf.Len()-8)
			}
			w, err := ReadWAV(&buf)
			if err != nil {
				t.Fatal(err)
			}
			want := codecRoundTrip(tt.f, samples)
			if w.SampleRate != 8000 || w.Channels != 1 || w.FormatTag != tt.tag || !equalInt16(w.Samples, want) {
				t.Errorf("read back rate %d, %d channels, tag %d, %d samples (equal %v)",
					w.SampleRate, w.Channels, w.FormatTag, len(w.Samples), equalInt16(w.Samples, want))
			}
		})
	}
}

const (
	math16Min = -32768
	math16Max = 32767
)

// codecRoundTrip returns samples as they come back from format f.
func codecRoundTrip(f Format, samples []int16) []int16 {
	enc := make([]byte, len(samples)*f.BytesPerSample())
	EncodeFrame(enc, f, samples)
	dec := make([]int16, len(samples))
	DecodeFrame(dec, f, enc)
	return dec
}

func TestWriteWAVErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"zero rate", WriteWAV(io.Discard, 0, nil), "0 samples per second"},
		{"absurd rate", WriteWAV(io.Discard, 1<<30, nil), "1073741824 samples per second"},
		{"invalid format", WriteWAVFormat(io.Discard, 8000, 0, nil), "Format(0)"},
		{"writer fails", WriteWAV(&failingWriter{}, 8000, make([]int16, 10)), "pipe closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.msg) {
				t.Errorf("error %v, want one containing %q", tt.err, tt.msg)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

// soxCases are files sox writes, checked against sox's own decoding to raw
// 16-bit samples.
var soxCases = []struct {
	name   string
	args   []string // sox output options before the file name
	synth  []string
	rate   int
	chans  int
	tag    int
	bits   int
	errMsg string // non-empty: ReadWAV must fail with this
}{
	{"pcm16 mono 8k", []string{"-r", "8000", "-c", "1", "-e", "signed-integer", "-b", "16"}, []string{"sine", "1000"}, 8000, 1, WAVFormatPCM, 16, ""},
	{"pcm16 stereo 44.1k", []string{"-r", "44100", "-c", "2", "-b", "16"}, []string{"sine", "440", "sine", "1300"}, 44100, 2, WAVFormatPCM, 16, ""},
	{"pcm8 mono 11025", []string{"-r", "11025", "-c", "1", "-e", "unsigned-integer", "-b", "8"}, []string{"sine", "700"}, 11025, 1, WAVFormatPCM, 8, ""},
	{"mu-law", []string{"-r", "8000", "-c", "1", "-e", "mu-law"}, []string{"sine", "1004"}, 8000, 1, WAVFormatMuLaw, 8, ""},
	{"A-law", []string{"-r", "8000", "-c", "1", "-e", "a-law"}, []string{"sine", "1004"}, 8000, 1, WAVFormatALaw, 8, ""},
	{"extensible pcm16 3 channels", []string{"-r", "48000", "-c", "3", "-b", "16"}, []string{"sine", "300", "sine", "600", "sine", "900"}, 48000, 3, WAVFormatPCM, 16, ""},
	{"extensible A-law 3 channels", []string{"-r", "8000", "-c", "3", "-e", "a-law"}, []string{"sine", "300", "sine", "600", "sine", "900"}, 8000, 3, WAVFormatALaw, 8, ""},
	{"float", []string{"-r", "8000", "-c", "1", "-e", "floating-point", "-b", "32"}, []string{"sine", "1000"}, 0, 0, 0, 0,
		"dsp: unsupported WAV format: IEEE float (3); convert to 16-bit PCM, mu-law or A-law"},
	{"24-bit", []string{"-r", "8000", "-c", "1", "-b", "24"}, []string{"sine", "1000"}, 0, 0, 0, 0, "24-bit PCM"},
	{"IMA ADPCM", []string{"-r", "8000", "-c", "1", "-e", "ima-adpcm"}, []string{"sine", "1000"}, 0, 0, 0, 0, "IMA ADPCM (17)"},
}

func needSox(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox not installed; the hand-built fixtures still cover ReadWAV")
	}
	return path
}

// soxMake runs sox to synthesise 0.25 s into a WAV file (or to a pipe when
// file is "-") and returns the bytes.
func soxMake(t testing.TB, sox, dir string, args, synth []string, file string) []byte {
	t.Helper()
	out := file
	if file != "-" {
		out = filepath.Join(dir, file)
	}
	cmdArgs := append(append([]string{"-D", "-n"}, args...), "-t", "wav", out, "synth", "0.25")
	cmdArgs = append(append(cmdArgs, synth...), "gain", "-3")
	cmd := exec.Command(sox, cmdArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sox %v: %v: %s", cmdArgs, err, stderr.String())
	}
	if file == "-" {
		return stdout.Bytes()
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// soxRaw has sox decode a WAV file to interleaved little-endian 16-bit samples.
func soxRaw(t testing.TB, sox, path string) []int16 {
	t.Helper()
	raw := path + ".raw"
	cmd := exec.Command(sox, "-D", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox decode: %v: %s", err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(b)/2)
	DecodeFrame(s, FormatPCM16, b)
	return s
}

func TestReadWAVFromSox(t *testing.T) {
	sox := needSox(t)
	dir := t.TempDir()
	for i, tt := range soxCases {
		t.Run(tt.name, func(t *testing.T) {
			file := fmt.Sprintf("case%d.wav", i)
			data := soxMake(t, sox, dir, tt.args, tt.synth, file)
			w, err := ReadWAV(bytes.NewReader(data))
			if tt.errMsg != "" {
				if err == nil || !errors.Is(err, ErrUnsupportedWAV) || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("error %v, want ErrUnsupportedWAV containing %q", err, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.SampleRate != tt.rate || w.Channels != tt.chans || w.FormatTag != tt.tag || w.BitsPerSample != tt.bits {
				t.Errorf("got rate %d, %d channels, tag %d, %d bits; want %d, %d, %d, %d",
					w.SampleRate, w.Channels, w.FormatTag, w.BitsPerSample, tt.rate, tt.chans, tt.tag, tt.bits)
			}
			// sox's decoding, mixed down the way ReadWAV documents it.
			raw := soxRaw(t, sox, filepath.Join(dir, file))
			want := make([]int16, len(raw)/tt.chans)
			for k := range want {
				var sum int64
				for c := range tt.chans {
					sum += int64(raw[k*tt.chans+c])
				}
				want[k] = int16(sum / int64(tt.chans))
			}
			if len(want) != tt.rate/4 {
				t.Fatalf("sox made %d samples, want %d", len(want), tt.rate/4)
			}
			if !equalInt16(w.Samples, want) {
				diff := 0
				for k := range min(len(want), len(w.Samples)) {
					if w.Samples[k] != want[k] {
						diff++
					}
				}
				t.Errorf("%d samples (sox: %d), %d differ from sox's decoding", len(w.Samples), len(want), diff)
			}
		})
	}
}

// sox writing to a pipe cannot seek back to fix the sizes and leaves
// 0x7FFFF000 as the data size.
func TestReadWAVFromSoxPipe(t *testing.T) {
	sox := needSox(t)
	data := soxMake(t, sox, "", []string{"-r", "8000", "-c", "1", "-b", "16"}, []string{"sine", "1000"}, "-")
	if size := binary.LittleEndian.Uint32(data[40:44]); size != 0x7FFFF000 {
		t.Logf("sox wrote data size 0x%X to a pipe", size)
	}
	w, err := ReadWAV(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Samples) != 2000 {
		t.Errorf("read %d samples, want 2000", len(w.Samples))
	}
	if rms, _ := Level(w.Samples); rms < -3.1 || rms > -2.9 {
		t.Errorf("level %.2f dBFS, want the -3 dBFS sox made", rms)
	}
}

// Files WriteWAV makes must read back identically in sox.
func TestWriteWAVReadBySox(t *testing.T) {
	sox := needSox(t)
	dir := t.TempDir()
	samples := make([]int16, 801)
	DualTone(samples, 8000, 697, -6, 1209, -4, nil, nil)
	for _, f := range []Format{FormatPCM16, FormatUlaw, FormatAlaw} {
		t.Run(f.String(), func(t *testing.T) {
			path := filepath.Join(dir, f.String()+".wav")
			var buf bytes.Buffer
			if err := WriteWAVFormat(&buf, 8000, f, samples); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, want := soxRaw(t, sox, path), codecRoundTrip(f, samples); !equalInt16(got, want) {
				t.Errorf("sox decoded %d samples differing from the %d written", len(got), len(want))
			}
		})
	}
}

// FuzzReadWAV checks that no input panics, that errors are classified, and
// that whatever decodes survives a write and re-read. The seeds are the
// hand-built fixtures plus the committed corpus in testdata/fuzz/FuzzReadWAV
// (sox-made headers among them).
func FuzzReadWAV(f *testing.F) {
	for _, fx := range wavFixtures {
		f.Add(fx.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ReadWAVLimit(bytes.NewReader(data), 1<<16)
		if err != nil {
			if !errors.Is(err, ErrInvalidWAV) && !errors.Is(err, ErrUnsupportedWAV) && !errors.Is(err, ErrWAVTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if w.SampleRate <= 0 || w.Channels <= 0 || len(w.Samples) > len(data) {
			t.Fatalf("implausible result: rate %d, %d channels, %d samples from %d bytes",
				w.SampleRate, w.Channels, len(w.Samples), len(data))
		}
		var buf bytes.Buffer
		if err := WriteWAV(&buf, w.SampleRate, w.Samples); err != nil {
			t.Fatal(err)
		}
		back, err := ReadWAV(&buf)
		if err != nil {
			t.Fatalf("re-reading written file: %v", err)
		}
		if back.SampleRate != w.SampleRate || !equalInt16(back.Samples, w.Samples) {
			t.Fatal("write and re-read changed the audio")
		}
	})
}

// TestUpdateFuzzCorpus rewrites the committed seed corpus from the fixtures
// and from small sox-made files when run with -update.
func TestUpdateFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzReadWAV")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReadWAV")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sox := needSox(t)
	tmp := t.TempDir()
	for i, tt := range soxCases {
		args := append([]string(nil), tt.args...)
		data := soxMake(t, sox, tmp, args, tt.synth, fmt.Sprintf("s%d.wav", i))
		// Keep headers and a few frames: the corpus stays small.
		write(fmt.Sprintf("sox-%02d", i), data[:min(len(data), 160)])
	}
	pipe := soxMake(t, sox, tmp, []string{"-r", "8000", "-c", "1", "-b", "16"}, []string{"sine", "1000"}, "-")
	write("sox-pipe", pipe[:96])
	write("truncated-riff", []byte("RIFF\x24\x00\x00\x00WA"))
	write("huge-sizes", riff("RIFF", riffChunk{id: "LIST", body: []byte("INFO"), size: 0xFFFFFFF0}))
}
