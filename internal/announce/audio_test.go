package announce

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
)

func wavBytes(t *testing.T, rate int, d time.Duration, freq float64) []byte {
	pcm := make([]int16, int(d.Seconds()*float64(rate)))
	dsp.Tone(pcm, rate, freq, -10, nil)
	var b bytes.Buffer
	if err := dsp.WriteWAV(&b, rate, pcm); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeWAV(t *testing.T) {
	pcm, err := decode(wavBytes(t, 16000, time.Second, 1000), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 7900 || len(pcm) > 8100 {
		t.Fatalf("1 s at 16 kHz became %d samples at 8 kHz", len(pcm))
	}
	if f := dsp.DominantFrequency(pcm[800:], 8000, 300, 3000, 10); f < 990 || f > 1010 {
		t.Fatalf("tone at %v Hz after resampling", f)
	}
	for name, b := range map[string][]byte{
		"garbage":  []byte("hello"),
		"too long": wavBytes(t, 8000, MaxAudio+time.Second, 440),
	} {
		if _, err := decode(b, 64<<20); !errors.Is(err, sipphone.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestDecodeMP3 decodes the MPEG-2 speech sample shipped with the decoder
// module (public-domain text).
func TestDecodeMP3(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skip("go env GOMODCACHE:", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "github.com", "hajimehoshi", "go-mp3@v0.3.4", "example", "mpeg2.mp3")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip("the decoder's sample file is not in the module cache:", err)
	}
	b = b[:64<<10] // a few seconds are enough
	if !isMP3(b) {
		t.Fatal("not recognised as MP3")
	}
	pcm, err := decode(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 8000 {
		t.Fatalf("%d samples", len(pcm))
	}
	if rms, _ := dsp.Level(pcm); rms < -50 {
		t.Fatalf("decoded speech at %.1f dBFS: silence", rms)
	}
}

func TestFetch(t *testing.T) {
	wav := wavBytes(t, 8000, 100*time.Millisecond, 440) // 1644 bytes
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.wav", func(w http.ResponseWriter, _ *http.Request) { w.Write(wav) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { w.Write(make([]byte, 4096)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:"+r.Host[strings.LastIndex(r.Host, ":")+1:]+"/ok.wav", http.StatusFound)
	})
	mux.HandleFunc("/here", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok.wav", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	pol, err := newHostPolicy([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFetcher(pol, 500*time.Millisecond, 2048)
	defer f.close()
	ctx := context.Background()
	if b, err := f.get(ctx, srv.URL+"/ok.wav"); err != nil || !bytes.Equal(b, wav) {
		t.Fatalf("allowed host: %d bytes, %v", len(b), err)
	}
	if _, err := f.get(ctx, srv.URL+"/here"); err != nil {
		t.Fatalf("redirect inside the allowed hosts: %v", err)
	}
	for path, want := range map[string]string{
		"/away": "not in announce.allowed_url_hosts",
		"/big":  "larger than announce.max_download_bytes",
		"/slow": "download failed",
		"/none": "404",
	} {
		_, err := f.get(ctx, srv.URL+path)
		if !errors.Is(err, sipphone.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrInvalid mentioning %q", path, err, want)
		}
	}
	if _, err := f.get(ctx, "file:///etc/passwd"); err == nil {
		t.Error("file:// URL accepted")
	}

	// Another allow-list refuses the same server.
	other, _ := newHostPolicy([]string{"10.0.0.0/8", "ha.example"})
	g := newFetcher(other, time.Second, 1<<20)
	defer g.close()
	if _, err := g.get(ctx, srv.URL+"/ok.wav"); err == nil || !strings.Contains(err.Error(), "allowed_url_hosts") {
		t.Errorf("host outside the list: %v", err)
	}

	// The default list is this machine's addresses, loopback included.
	own, err := newHostPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newFetcher(own, time.Second, 1<<20)
	defer h.close()
	if _, err := h.get(ctx, srv.URL+"/ok.wav"); err != nil {
		t.Errorf("own address refused by the default list: %v", err)
	}
}
