package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
)

type audioStream struct {
	StreamID   string `json:"stream_id"`
	WSURL      string `json:"ws_url"`
	Format     string `json:"format"`
	SampleRate int    `json:"sample_rate"`
	FrameMS    int    `json:"frame_ms"`
}

func pcm16(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// readPCM reads binary frames until n samples of 16-bit audio arrived,
// answering text frames into texts.
func readPCM(t *testing.T, c *websocket.Conn, n int, texts *[]string) []int16 {
	t.Helper()
	var out []int16
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(out) < n {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("audio WebSocket after %d samples: %v", len(out), err)
		}
		if typ == websocket.MessageText {
			*texts = append(*texts, string(b))
			continue
		}
		for i := 0; i+1 < len(b); i += 2 {
			out = append(out, int16(binary.LittleEndian.Uint16(b[i:])))
		}
	}
	return out
}

// waitText reads until a text frame containing want arrives.
func waitText(t *testing.T, c *websocket.Conn, texts *[]string, want string) {
	t.Helper()
	for _, s := range *texts {
		if strings.Contains(s, want) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v (texts so far %v)", want, err, *texts)
		}
		if typ == websocket.MessageText {
			*texts = append(*texts, string(b))
			if strings.Contains(string(b), want) {
				return
			}
		}
	}
}

// TestBaresipAudioBothWays: a real phone's tone reaches a WebSocket client
// as 16 kHz PCM, and the client's tone reaches the phone; marks and clear.
func TestBaresipAudioBothWays(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,on_hook,audio_start,audio_stop")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	b := startBaresipIn(t, dir, s.sipAddr(), "phone1", "x", "auto", "module sndfile.so\nsnd_path "+rec+"\n")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)

	var as audioStream
	if code := s.do("POST", "/audio/start", `{"format":"pcm16","sample_rate":16000,"frame_ms":20}`, &as); code != 201 {
		t.Fatalf("POST /audio/start = %d %+v", code, as)
	}
	if !strings.HasPrefix(as.WSURL, "ws://127.0.0.1:") || as.SampleRate != 16000 || as.Format != "pcm16" {
		t.Fatalf("stream %+v", as)
	}
	if e := ev.expect(sipphone.EventAudioStart)[0]; e.StreamID != as.StreamID {
		t.Fatalf("audio_start %+v", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, as.WSURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)

	// The phone's microphone (baresip plays a 440 Hz file).
	var texts []string
	heard := readPCM(t, c, 16000, &texts)
	if f := dsp.DominantFrequency(heard[1600:], 16000, 100, 3800, 5); math.Abs(f-440) > 10 {
		t.Fatalf("client heard %v Hz from the phone, want 440", f)
	}
	if rms, _ := dsp.Level(heard[1600:]); rms < -40 {
		t.Fatalf("phone audio at %.1f dBFS: too quiet", rms)
	}

	// The client speaks: 1 s of 1000 Hz at 16 kHz, sent at once, then a mark.
	speech := make([]int16, 16000)
	dsp.Tone(speech, 16000, 1000, -10, nil)
	if err := c.Write(ctx, websocket.MessageBinary, pcm16(speech)); err != nil {
		t.Fatal(err)
	}
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"mark","name":"greeting"}`))
	start := time.Now()
	waitText(t, c, &texts, `"name":"greeting"`)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("mark came back after %v: the second of audio was not paced at real time", d)
	}

	// Barge-in: queue 10 s, clear, and the pending mark comes back cleared.
	long := make([]int16, 160000)
	dsp.Tone(long, 16000, 1500, -10, nil)
	c.Write(ctx, websocket.MessageBinary, pcm16(long))
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"mark","name":"long"}`))
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"clear"}`))
	waitText(t, c, &texts, `"name":"long","cleared":true`)
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"bogus"}`))
	waitText(t, c, &texts, `unknown message type`)

	var st statusBody
	s.do("GET", "/status", "", &st)
	m := st.Lines[0].Call.Media
	if m == nil || m.RTP.PacketsReceived < 50 || m.RTP.PacketsSent < 50 || m.LevelIn.RMS < -40 || m.CaptureLatency.Count == 0 || !st.Lines[0].AudioStreaming {
		t.Fatalf("media status %+v", m)
	}

	b.command("hangup", "")
	ev.expect(sipphone.EventAudioStop, sipphone.EventOnHook)
	// baresip's sndfile module wrote what it received: find the 1000 Hz.
	var dec string
	s.waitFor("baresip recording", func() bool {
		m, _ := filepath.Glob(filepath.Join(rec, "*dec*.wav"))
		if len(m) > 0 {
			dec = m[0]
		}
		return dec != ""
	})
	var w *dsp.WAV
	s.waitFor("complete recording", func() bool {
		data, _ := os.ReadFile(dec)
		w, err = dsp.ReadWAV(bytes.NewReader(data))
		return err == nil && len(w.Samples) > 0
	})
	found := false
	step := w.SampleRate / 5
	for i := 0; i+step <= len(w.Samples); i += step {
		seg := w.Samples[i : i+step]
		if rms, _ := dsp.Level(seg); rms > -30 && math.Abs(dsp.DominantFrequency(seg, w.SampleRate, 100, 3800, 5)-1000) <= 10 {
			found = true
			break
		}
	}
	if !found {
		t.Fatalf("the phone never heard the client's 1000 Hz tone (%d samples at %d Hz recorded)", len(w.Samples), w.SampleRate)
	}
}

// TestLevelEventsAndLoopbackWithSimulator: with audio.level_events set,
// a call publishes audio_level events; loopback returns the phone's tone.
func TestLevelEventsAndLoopbackWithSimulator(t *testing.T) {
	s := startServer(t, "audio: {level_events: 200ms}\n", "")
	ev := s.events("?types=off_hook,audio_level")
	ph := startSim(t, s.sipAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph.PlayTone(0, 1500, -10)
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook)
	var lv sipphone.Event
	for lv.LevelIn == nil || lv.LevelIn.RMS < -20 {
		lv = ev.expect(sipphone.EventAudioLevel)[0]
	}
	if want := dsp.DBm0ToDBFS(-10); math.Abs(lv.LevelIn.RMS-want) > 1.5 || lv.LevelOut == nil || lv.LevelOut.RMS > -60 {
		t.Fatalf("audio_level %+v / %+v, want in %.1f dBFS, out silent", lv.LevelIn, lv.LevelOut, want)
	}
	var r struct {
		Loopback bool `json:"loopback"`
	}
	if code := s.do("POST", "/lines/phone1/loopback", `{"enabled":true}`, &r); code != 200 || !r.Loopback {
		t.Fatalf("loopback on = %d %+v", code, r)
	}
	s.waitFor("the phone hears its own tone", func() bool {
		got := ph.ReceivedAudio(0)
		if len(got) < 1600 {
			return false
		}
		tail := got[len(got)-1600:]
		rms, _ := dsp.Level(tail)
		return rms > -25 && math.Abs(dsp.DominantFrequency(tail, 8000, 100, 3800, 10)-1500) <= 10
	})
	if code := s.do("POST", "/lines/phone1/loopback", `{"enabled":false}`, nil); code != 200 {
		t.Fatalf("loopback off = %d", code)
	}
	if code := s.do("POST", "/lines/nope/loopback", `{"enabled":true}`, nil); code != 404 {
		t.Fatalf("loopback unknown line = %d", code)
	}
}

// TestPlayWAV plays a WAV file (16 kHz PCM) into a call; the phone hears
// it and playback_done follows.
func TestPlayWAV(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=off_hook,playback_done")
	ph := startSim(t, s.sipAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tone := make([]int16, 16000/2) // 0.5 s at 16 kHz
	dsp.Tone(tone, 16000, 800, -10, nil)
	var wav bytes.Buffer
	dsp.WriteWAV(&wav, 16000, tone)
	play := func() *http.Response {
		req, _ := http.NewRequest("POST", s.url("/lines/phone1/play"), bytes.NewReader(wav.Bytes()))
		req.Header.Set("Content-Type", "audio/wav")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := play(); res.StatusCode != 409 {
		t.Fatalf("play without a call = %d, want 409", res.StatusCode)
	} else {
		res.Body.Close()
	}
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook)
	res := play()
	var pb struct {
		PlaybackID string  `json:"playback_id"`
		DurationS  float64 `json:"duration_s"`
	}
	json.NewDecoder(res.Body).Decode(&pb)
	res.Body.Close()
	if res.StatusCode != 202 || pb.PlaybackID == "" || math.Abs(pb.DurationS-0.5) > 0.01 {
		t.Fatalf("play = %d %+v", res.StatusCode, pb)
	}
	done := ev.expect(sipphone.EventPlaybackDone)[0]
	if done.PlaybackID != pb.PlaybackID || done.Reason != "finished" {
		t.Fatalf("playback_done %+v", done)
	}
	got := ph.ReceivedAudio(0)
	found := false
	for i := 0; i+1600 <= len(got); i += 400 {
		seg := got[i : i+1600]
		if rms, _ := dsp.Level(seg); rms > -25 && math.Abs(dsp.DominantFrequency(seg, 8000, 100, 3800, 10)-800) <= 10 {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("the phone never heard the 800 Hz WAV")
	}
	// A file that is not a WAV gets a clear 422.
	req, _ := http.NewRequest("POST", s.url("/lines/phone1/play"), strings.NewReader("hello"))
	req.Header.Set("Content-Type", "audio/wav")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 422 {
		t.Fatalf("play of a text file = %d, want 422", res.StatusCode)
	}
}
