package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/mqtttest"
)

// mqttState is the retained state payload of a line.
type mqttState struct {
	State      string               `json:"state"`
	OffHook    *bool                `json:"off_hook"`
	Registered bool                 `json:"registered"`
	LastDTMF   string               `json:"last_dtmf"`
	Ringing    bool                 `json:"ringing"`
	Call       *struct{ ID string } `json:"call"`
}

func stateIs(pred func(mqttState) bool) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		var st mqttState
		return json.Unmarshal([]byte(m.Payload), &st) == nil && pred(st)
	}
}

func jsonHas(kv ...string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		var v map[string]any
		if json.Unmarshal([]byte(m.Payload), &v) != nil {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(v[kv[i]]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// announceWAV is 1.5 s of 1000 Hz then 0.5 s of 1800 Hz: the end of the
// message is recognisable in the phone's recording.
func announceWAV(t *testing.T) []byte {
	pcm := make([]int16, 16000)
	dsp.Tone(pcm[:12000], 8000, 1000, -10, nil)
	dsp.Tone(pcm[12000:], 8000, 1800, -10, nil)
	var b bytes.Buffer
	if err := dsp.WriteWAV(&b, 8000, pcm); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// toneSeconds measures how long each frequency of freqs dominates a
// recording, in 20 ms blocks.
func toneSeconds(w *dsp.WAV, freqs ...float64) []float64 {
	out := make([]float64, len(freqs))
	step := w.SampleRate / 50
	for i := 0; i+step <= len(w.Samples); i += step {
		seg := w.Samples[i : i+step]
		if rms, _ := dsp.Level(seg); rms < -35 {
			continue
		}
		f := dsp.DominantFrequency(seg, w.SampleRate, 300, 3000, 10)
		for j, want := range freqs {
			if math.Abs(f-want) <= 30 {
				out[j] += 0.02
			}
		}
	}
	return out
}

// TestMQTTWithBaresip drives the phone through MQTT with a real broker and
// a real phone: discovery, hook state, keys, ring with caller ID, hang-up,
// malformed commands, an announce, and a broker restart mid-call.
func TestMQTTWithBaresip(t *testing.T) {
	broker := mqtttest.Start(t)
	wav := announceWAV(t)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(wav)
	}))
	defer files.Close()
	s := startServer(t, fmt.Sprintf(`mqtt: {url: %q, topic_prefix: sp}
announce: {allowed_url_hosts: [127.0.0.1]}
lines: [{id: phone1, user: phone1, display_name: Kitchen}]
`, broker.URL()), "")
	w := mqtttest.Watch(t, broker, "#")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	b := startBaresipIn(t, dir, s.sipAddr(), "phone1", "x", "auto", "module sndfile.so\nsnd_path "+rec+"\n")

	const (
		stateT = "sp/line/phone1/state"
		eventT = "sp/line/phone1/event"
		keyT   = "sp/line/phone1/key"
	)
	w.Wait(0, stateT, 15*time.Second, stateIs(func(st mqttState) bool { return st.Registered && st.State == "on_hook" }))

	// Discovery and availability are retained: a new subscriber gets them.
	w2 := mqtttest.Watch(t, broker, "homeassistant/#")
	disc := w2.Wait(0, "homeassistant/device/sp_phone1/config", 10*time.Second, nil)
	if !disc.Retained {
		t.Fatal("line discovery is not retained")
	}
	var dp struct {
		Dev  map[string]any            `json:"dev"`
		Cmps map[string]map[string]any `json:"cmps"`
	}
	if err := json.Unmarshal([]byte(disc.Payload), &dp); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, c := range dp.Cmps {
		platforms = append(platforms, c["p"].(string))
	}
	slices.Sort(platforms)
	if want := []string{"binary_sensor", "binary_sensor", "button", "event", "sensor", "sensor", "siren"}; !slices.Equal(platforms, want) || dp.Dev["name"] != "Kitchen" {
		t.Fatalf("discovery components %v (want %v), device %v", platforms, want, dp.Dev)
	}
	if hub := w2.Wait(0, "homeassistant/device/sp/config", 10*time.Second, nil); !hub.Retained {
		t.Fatal("hub discovery is not retained")
	}
	w3 := mqtttest.Watch(t, broker, "sp/status")
	if m := w3.Wait(0, "sp/status", 10*time.Second, nil); m.Payload != "online" || !m.Retained {
		t.Fatalf("sp/status %+v", m)
	}

	// Lifting the handset (the phone dials the auto-dial number).
	mark := w.Mark()
	b.command("dial", "sip:100@"+s.sipAddr())
	w.Wait(mark, stateT, 15*time.Second, stateIs(func(st mqttState) bool { return st.OffHook != nil && *st.OffHook && st.State == "off_hook" }))
	w.Wait(mark, eventT, 5*time.Second, jsonHas("type", "off_hook", "direction", "from_phone"))

	// A key arrives once on the key topic.
	mark = w.Mark()
	b.command("sndcode", "5")
	w.Wait(mark, keyT, 10*time.Second, jsonHas("event_type", "5", "method", "rfc4733"))
	w.Wait(mark, stateT, 5*time.Second, stateIs(func(st mqttState) bool { return st.LastDTMF == "5" }))
	time.Sleep(500 * time.Millisecond) // a second message would come within this
	if n := w.Count(mark, keyT, nil); n != 1 {
		t.Fatalf("%d key messages for one press", n)
	}

	// hangup/set ends the call.
	mark = w.Mark()
	w.Publish("sp/line/phone1/hangup/set", false, "PRESS")
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "hangup"))
	w.Wait(mark, stateT, 5*time.Second, stateIs(func(st mqttState) bool { return st.Call == nil && st.State == "unknown" }))

	// ring/set with caller ID (Home Assistant's siren fields too).
	mark = w.Mark()
	w.Publish("sp/line/phone1/ring/set", false, `{"state":"ON","tone":"ring3","caller_id":{"name":"Front Door","number":"5551234"}}`)
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "ring_start", "pattern", "ring3"))
	w.Wait(mark, stateT, 15*time.Second, stateIs(func(st mqttState) bool { return st.State == "off_hook" }))
	for _, want := range []string{`From: "Front Door" <sip:5551234@`, "Alert-Info: <http://127.0.0.1>;info=ring3"} {
		if !strings.Contains(b.output(), want) {
			t.Fatalf("baresip's INVITE lacks %q", want)
		}
	}

	// A malformed command and a refused one give error events.
	mark = w.Mark()
	w.Publish("sp/line/phone1/ring/set", false, `{"caller_id":`)
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "error", "command", "ring", "status", "422", "title", "Unprocessable Entity"))
	w.Publish("sp/line/phone1/ring/set", false, `ON`)
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "error", "status", "409"))
	w.Publish("sp/line/nosuch/hangup/set", false, `PRESS`)
	w.Wait(mark, "sp/line/nosuch/event", 10*time.Second, jsonHas("type", "error", "status", "404"))

	// connect/set bridges the call to a voice bot; OFF ends the bridge.
	botSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	defer botSrv.Close()
	mark = w.Mark()
	w.Publish("sp/line/phone1/connect/set", false, `{"url":"ws`+strings.TrimPrefix(botSrv.URL, "http")+`/media","hangup_on_close":false}`)
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "bot_connected"))
	w.Publish("sp/line/phone1/connect/set", false, `OFF`)
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "bot_disconnected", "reason", "stopped"))
	w.Publish("sp/line/phone1/connect/set", false, `{"url":"ftp://x"}`)
	w.Wait(mark, eventT, 10*time.Second, jsonHas("type", "error", "command", "connect", "status", "422"))

	// The broker dies mid-call: SIP, RTP and REST go on; a key pressed
	// meanwhile is in the state republished after the restart.
	broker.Kill()
	s.waitFor("the client to notice", func() bool { return !s.MQTTStats().Connected })
	before := s.status().line("phone1").Call.Media.RTP.PacketsReceived
	b.command("sndcode", "7")
	s.waitFor("the key while the broker is down", func() bool { return s.status().line("phone1").LastDTMF == "7" })
	if after := s.status().line("phone1").Call.Media.RTP.PacketsReceived; after <= before {
		t.Fatalf("RTP stopped while the broker was down: %d then %d packets", before, after)
	}
	broker.Restart()
	s.waitFor("the client to reconnect", func() bool { st := s.MQTTStats(); return st.Connected && st.Reconnects >= 1 })
	w4 := mqtttest.Watch(t, broker, "#")
	pressed := stateIs(func(st mqttState) bool { return st.State == "off_hook" && st.LastDTMF == "7" })
	w4.Wait(0, stateT, 15*time.Second, pressed)
	// Published again, and retained: a new subscriber gets it from the broker.
	w5 := mqtttest.Watch(t, broker, "#")
	retained := func(ok func(mqtttest.Message) bool) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool { return m.Retained && (ok == nil || ok(m)) }
	}
	w5.Wait(0, stateT, 15*time.Second, retained(pressed))
	w5.Wait(0, "homeassistant/device/sp_phone1/config", 15*time.Second, retained(nil))
	w5.Wait(0, "sp/status", 15*time.Second, retained(func(m mqtttest.Message) bool { return m.Payload == "online" }))
	var metrics string
	s.waitFor("mqtt metrics", func() bool {
		res, err := http.Get(s.url("/metrics"))
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		metrics = string(body)
		return strings.Contains(metrics, "sipphone_mqtt_connected 1")
	})
	if !strings.Contains(metrics, "sipphone_mqtt_reconnects_total 1") || !strings.Contains(metrics, "sipphone_mqtt_messages_published_total") {
		t.Fatalf("metrics lack the MQTT counters:\n%s", metrics)
	}

	var diag struct {
		MQTT *struct {
			Broker     string `json:"broker"`
			Connected  bool   `json:"connected"`
			Reconnects uint64 `json:"reconnects"`
			Out        uint64 `json:"messages_out"`
			In         uint64 `json:"messages_in"`
		} `json:"mqtt"`
	}
	if code := s.do("GET", "/diagnostics", "", &diag); code != 200 || diag.MQTT == nil || !diag.MQTT.Connected ||
		diag.MQTT.Reconnects != 1 || diag.MQTT.Out == 0 || diag.MQTT.In == 0 || diag.MQTT.Broker != broker.URL() {
		t.Fatalf("/diagnostics mqtt = %d %+v", code, diag.MQTT)
	}

	// Home Assistant restarted: discovery is published again.
	mark = w4.Mark()
	w4.Publish("homeassistant/status", false, "online")
	w4.Wait(mark, "homeassistant/device/sp_phone1/config", 10*time.Second, nil)

	// Announce: ring, play the file when answered, hang up after its end.
	w4.Publish("sp/line/phone1/hangup/set", false, "")
	w4.Wait(mark, eventT, 10*time.Second, jsonHas("type", "hangup"))
	old, _ := filepath.Glob(filepath.Join(rec, "*dec*.wav"))
	mark = w4.Mark()
	w4.Publish("sp/line/phone1/announce/set", false, fmt.Sprintf(`{"audio_url":%q,"caller_id":{"name":"Doorbell"}}`, files.URL+"/ding.wav"))
	start := w4.Wait(mark, eventT, 15*time.Second, jsonHas("type", "announce_start"))
	done := w4.Wait(mark, eventT, 30*time.Second, jsonHas("type", "announce_done"))
	if !strings.Contains(done.Payload, `"reason":"played"`) || !strings.Contains(start.Payload, `"duration_ms":2000`) {
		t.Fatalf("announce events %s then %s", start.Payload, done.Payload)
	}
	w4.Wait(mark, eventT, 10*time.Second, jsonHas("type", "hangup"))
	if !strings.Contains(b.output(), `From: "Doorbell"`) {
		t.Fatal("the announce rang without its caller name")
	}
	var recording string
	s.waitFor("the announce's recording", func() bool {
		now, _ := filepath.Glob(filepath.Join(rec, "*dec*.wav"))
		for _, f := range now {
			if !slices.Contains(old, f) {
				recording = f
			}
		}
		return recording != ""
	})
	var secs []float64
	s.waitFor("the whole message in the recording", func() bool {
		data, _ := os.ReadFile(recording)
		rw, err := dsp.ReadWAV(bytes.NewReader(data))
		if err != nil {
			return false
		}
		secs = toneSeconds(rw, 1000, 1800)
		return secs[0] >= 1.44 && secs[1] >= 0.46
	})
	t.Logf("recording holds %.2f s of 1000 Hz and %.2f s of 1800 Hz", secs[0], secs[1])
}

// TestAnnounceRESTWithBaresip: POST /lines/{id}/announce with the WAV as
// the body, played twice, the call kept up (hangup=false). The test hangs
// up itself right after announce_done, without the announce's grace
// period: the phone's jitter buffer may lose the last tens of ms.
func TestAnnounceRESTWithBaresip(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,hangup,announce_start,announce_done,playback_done")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	startBaresipIn(t, dir, s.sipAddr(), "phone1", "x", "auto", "module sndfile.so\nsnd_path "+rec+"\n")
	ev.expect(sipphone.EventRegistered)

	post := func(query, ctype string, body []byte) (int, string) {
		res, err := http.Post(s.url("/lines/phone1/announce"+query), ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post("", "audio/wav", []byte("not audio")); code != 422 || !strings.Contains(body, "neither a WAV nor an MP3") {
		t.Fatalf("garbage body: %d %s", code, body)
	}
	if code, body := post("", "application/json", []byte(`{"audio_url":"http://203.0.113.9/x.wav"}`)); code != 422 || !strings.Contains(body, "allowed_url_hosts") {
		t.Fatalf("audio_url outside the allowed hosts: %d %s", code, body)
	}
	code, body := post("?repeat=2&pause_s=0.5&hangup=false&caller_name=Alarm", "audio/wav", announceWAV(t))
	if code != 202 || !strings.Contains(body, `"duration_s":2`) {
		t.Fatalf("announce: %d %s", code, body)
	}
	got := ev.expect(sipphone.EventAnnounceStart, sipphone.EventOffHook, sipphone.EventPlaybackDone, sipphone.EventPlaybackDone, sipphone.EventAnnounceDone)
	if got[4].Reason != sipphone.AnnouncePlayed || got[4].RingID != got[0].RingID || got[4].CallID != got[1].CallID {
		t.Fatalf("announce events %+v", got)
	}
	if l := s.status().line("phone1"); l.Call == nil {
		t.Fatalf("hangup=false, yet the call ended: %+v", l)
	}
	if code, body := post("", "audio/wav", announceWAV(t)); code != 409 {
		t.Fatalf("announce on a busy line: %d %s", code, body)
	}
	s.do("POST", "/hangup", "", nil)
	ev.expect(sipphone.EventHangup)
	var secs []float64
	s.waitFor("both repetitions in the recording", func() bool {
		m, _ := filepath.Glob(filepath.Join(rec, "*dec*.wav"))
		if len(m) == 0 {
			return false
		}
		data, _ := os.ReadFile(m[0])
		rw, err := dsp.ReadWAV(bytes.NewReader(data))
		if err != nil {
			return false
		}
		secs = toneSeconds(rw, 1000, 1800)
		return secs[0] >= 2.9 && secs[1] >= 0.9
	})
	t.Logf("recording holds %.2f s of 1000 Hz and %.2f s of 1800 Hz", secs[0], secs[1])
}

// TestAnnounceOutcomesWithBaresip: an announce nobody answers ends
// no_answer; one the phone hangs up on ends hung_up_early.
func TestAnnounceOutcomesWithBaresip(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,on_hook,announce_start,announce_done")
	var long bytes.Buffer
	pcm := make([]int16, 10*8000)
	dsp.Tone(pcm, 8000, 1000, -10, nil)
	dsp.WriteWAV(&long, 8000, pcm)
	post := func(query string) {
		t.Helper()
		res, err := http.Post(s.url("/lines/phone1/announce"+query), "audio/wav", bytes.NewReader(long.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 202 {
			t.Fatalf("announce: %d %s", res.StatusCode, b)
		}
	}

	b := startBaresip(t, s.sipAddr(), "phone1", "x", "manual")
	ev.expect(sipphone.EventRegistered)
	post("?timeout_s=1")
	got := ev.expect(sipphone.EventAnnounceStart, sipphone.EventAnnounceDone)
	if got[1].Reason != sipphone.AnnounceNoAnswer || got[1].RingID != got[0].RingID {
		t.Fatalf("unanswered announce: %+v", got[1])
	}

	post("?timeout_s=20")
	ev.expect(sipphone.EventAnnounceStart)
	// Answer: baresip ignores accept until the INVITE has reached it, so
	// repeat it until the call is up.
	s.waitFor("the phone to answer", func() bool {
		b.command("accept", "")
		time.Sleep(200 * time.Millisecond)
		return s.status().line("phone1").State == sipphone.StateOffHook
	})
	ev.expect(sipphone.EventOffHook)
	b.command("hangup", "")
	ev.expect(sipphone.EventOnHook)
	if done := ev.expect(sipphone.EventAnnounceDone)[0]; done.Reason != sipphone.AnnounceHungUpEarly || done.CallID == "" {
		t.Fatalf("announce hung up on: %+v", done)
	}
}
