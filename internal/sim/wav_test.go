package sim

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/zaf/g711"
)

// wavHeader is the size of wavFile's output before the samples.
const wavHeader = 12 + 12 + 8 + 16 + 8

// wavFile builds a WAV file with a fmt and a data chunk (and an extra
// chunk before them, as many tools write).
func wavFile(format, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(4 + 8 + 4 + 8 + 16 + 8 + len(data)))
	b.WriteString("WAVELIST")
	le(uint32(4))
	b.WriteString("INFO")
	b.WriteString("fmt ")
	le(uint32(16))
	le(format)
	le(channels)
	le(rate)
	le(rate * uint32(channels) * uint32(bits) / 8)
	le(channels * bits / 8)
	le(bits)
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestReadWAV(t *testing.T) {
	pcm16 := func(vals ...int16) []byte {
		var b bytes.Buffer
		for _, v := range vals {
			_ = binary.Write(&b, binary.LittleEndian, v)
		}
		return b.Bytes()
	}
	tests := []struct {
		name    string
		file    []byte
		want    []int16
		wantErr string
	}{
		{"pcm mono", wavFile(1, 1, 8000, 16, pcm16(1, -2, 300)), []int16{1, -2, 300}, ""},
		{"pcm stereo takes the first channel", wavFile(1, 2, 8000, 16, pcm16(1, 9, 2, 9)), []int16{1, 2}, ""},
		{"mu-law", wavFile(7, 1, 8000, 8, []byte{g711.EncodeUlawFrame(1000)}), []int16{g711.DecodeUlawFrame(g711.EncodeUlawFrame(1000))}, ""},
		{"a-law", wavFile(6, 1, 8000, 8, []byte{g711.EncodeAlawFrame(-1000)}), []int16{g711.DecodeAlawFrame(g711.EncodeAlawFrame(-1000))}, ""},
		{"truncated data plays what it has", wavFile(1, 1, 8000, 16, pcm16(5, 6))[:wavHeader+2], []int16{5}, ""},
		{"16 kHz refused", wavFile(1, 1, 16000, 16, pcm16(1)), nil, "16000 Hz"},
		{"float refused", wavFile(3, 1, 8000, 32, make([]byte, 4)), nil, "unsupported"},
		{"not riff", []byte("OggS0000000000000000"), nil, "not a RIFF"},
		{"no data", wavFile(1, 1, 8000, 16, nil)[:wavHeader-8], nil, "no data chunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readWAV(bytes.NewReader(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(wavFile(1, 1, 8000, 16, []byte{1, 0, 2, 0}))
	f.Add(wavFile(7, 2, 8000, 8, []byte{1, 2, 3, 4}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := readWAV(bytes.NewReader(data))
		if err == nil && len(pcm) > len(data) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
		}
	})
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("c=IN IP6 ::1\nm=audio 1 RTP/AVP 127\na=rtpmap:127 PCMU/8000\nm=audio 2 RTP/AVP 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseSDP(data)
		if err != nil {
			return
		}
		if !d.addr.IsValid() {
			t.Fatalf("valid parse without an address: %+v", d)
		}
		if pt, err := d.codec(); err == nil && pt > 127 {
			t.Fatalf("codec %d", pt)
		}
	})
}
