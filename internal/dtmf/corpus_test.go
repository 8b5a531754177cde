package dtmf

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Talk-off material: speech synthesised with espeak-ng and music or other
// sound files found on the machine, all resampled to 8 kHz with sox,
// peak-normalised to -1 dBFS (hotter than real speech, so the level gate
// helps as little as possible) and passed through G.711 mu-law.

// longTalkOff selects the long talk-off corpus (hours of speech plus every
// music file found) for the measurements recorded in BENCHMARKS.md.
var longTalkOff = os.Getenv("DTMF_TALKOFF_LONG") != ""

// clip is one piece of talk-off material, as 8 kHz PCM after G.711.
type clip struct {
	name string
	pcm  []int16
}

func (c clip) length() time.Duration {
	return time.Duration(len(c.pcm)) * time.Second / testRate
}

func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (%v); skipping", tool, err)
		}
	}
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// loadAudio decodes any file sox reads to mono 8 kHz 16-bit, normalised to
// a -1 dBFS peak, and returns it after a G.711 mu-law round trip.
func loadAudio(t testing.TB, path, tmp string) []int16 {
	t.Helper()
	raw := filepath.Join(tmp, "load.raw")
	run(t, "sox", "-R", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", raw,
		"remix", "-", "rate", "-v", "8000", "norm", "-1")
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = ulawRoundTrip(float64(int16(binary.LittleEndian.Uint16(b[2*i:]))))
	}
	return pcm
}

// voice is one espeak-ng speaker: voice name (language+variant), words per
// minute and pitch (0-99).
type voice struct {
	name         string
	speed, pitch int
}

func talkOffVoices() []voice {
	vs := []voice{
		{"en-us", 160, 50}, {"en+f3", 175, 60}, {"de+m3", 150, 40}, {"fr+f2", 170, 70},
	}
	if longTalkOff {
		vs = append(vs,
			voice{"en-gb", 140, 30}, voice{"en-us+f4", 190, 80}, voice{"en+m7", 150, 20},
			voice{"es", 170, 50}, voice{"es+f1", 160, 65}, voice{"it+m2", 165, 45},
			voice{"pt+f5", 155, 55}, voice{"nl", 160, 50}, voice{"sv+m4", 150, 35},
			voice{"pl+f3", 170, 60}, voice{"ru+m1", 160, 40}, voice{"cmn", 150, 50},
			voice{"ja+f2", 150, 70}, voice{"hi", 160, 50}, voice{"ar+m5", 150, 30},
			voice{"fi+f4", 170, 75}, voice{"tr", 165, 45}, voice{"en+Annie", 160, 60},
			voice{"en+Andy", 170, 40}, voice{"de+Alicia", 150, 60},
		)
	}
	return vs
}

// talkOffText is read by every voice: plain narration plus numbers, times
// and spelled digits, which bring the vowels and whistles that imitate
// tone pairs.
const talkOffText = `Good morning, this is the front desk. Your order number is four eight two, seven seven one, nine three zero.
Please call us back at five five five, zero one nine nine, extension twenty three, before six thirty this evening.
The weather today will be mostly sunny with a light breeze from the north west, and temperatures around eighteen degrees.
We remind all passengers that the train to Hamburg now leaves from platform eleven at a quarter past nine.
Hello? Hello, can you hear me? Yes, I can hear you now, the line was very quiet a moment ago.
Oh, that is wonderful news! We were hoping the package would arrive before the weekend, and it finally did.
Whistling a tune, singing along: la la la, ooh, aah, mmm, eee, hmm, yes, yes, no, no, maybe.
The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly.
One, two, three, four, five, six, seven, eight, nine, ten. Star, pound, hash, zero, oh.
Press one for sales, press two for support, or stay on the line and an operator will be with you shortly.
Thank you for calling. Your call is important to us. Please hold. All of our agents are currently busy.
In the beginning the phone network carried tones for signalling, and the receivers had to tell a key press from a voice.
Children were laughing in the garden, the dog barked twice, and a kettle began to whistle in the kitchen.
Peter Piper picked a peck of pickled peppers; how many pickled peppers did Peter Piper pick?
She sells sea shells by the sea shore, and the shells she sells are surely sea shells.
Ninety nine bottles on the wall, ninety nine bottles, take one down and pass it around.
Can you please repeat the last number? Was it three one four one five nine two six five three five?
Alright then, see you tomorrow at eight. Bye bye, take care, and say hello to everyone at home.`

// longText is read in addition to talkOffText by the long corpus: a long
// plain-English document every Debian system has.
const longText = "/usr/share/common-licenses/Apache-2.0"

// speech caches the synthesised speech: several tests use it.
var speech struct {
	once  sync.Once
	clips []clip
}

// speechClips synthesises talkOffText (and, for the long corpus, longText)
// with every talk-off voice, once per test binary.
func speechClips(t testing.TB, tmp string) []clip {
	t.Helper()
	requireTools(t, "espeak-ng", "sox")
	speech.once.Do(func() { speech.clips = makeSpeech(t, tmp) })
	if len(speech.clips) == 0 {
		t.Fatal("no speech was synthesised")
	}
	return speech.clips
}

func makeSpeech(t testing.TB, tmp string) []clip {
	t.Helper()
	var cs []clip
	wav := filepath.Join(tmp, "speech.wav")
	for _, v := range talkOffVoices() {
		args := []string{"-v", v.name, "-s", strconv.Itoa(v.speed), "-p", strconv.Itoa(v.pitch), "-w", wav}
		run(t, "espeak-ng", append(args, talkOffText)...)
		cs = append(cs, clip{name: "speech " + v.name, pcm: loadAudio(t, wav, tmp)})
		if _, err := os.Stat(longText); longTalkOff && err == nil {
			run(t, "espeak-ng", append(args, "-f", longText)...)
			cs = append(cs, clip{name: "speech " + v.name + " " + longText, pcm: loadAudio(t, wav, tmp)})
		}
	}
	return cs
}

// soundFiles lists sound files from Debian packages on this machine:
// call-progress sounds and game music. Files that hold DTMF tones (the
// baresip key sounds) are left out; duplicates by content are skipped.
func soundFiles() []string {
	patterns := []string{
		"/usr/share/baresip/*.wav",
		"/usr/share/sounds/*/*.wav", "/usr/share/sounds/*/*/*.ogg", "/usr/share/sounds/*/*/*.oga",
	}
	if longTalkOff {
		patterns = append(patterns,
			"/usr/share/games/asc/music/*.mp3",
			"/usr/share/scummvm/drascula/audio/*.ogg",
		)
	}
	seen := map[[32]byte]bool{}
	var out []string
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		slices.Sort(files)
		for _, f := range files {
			if base := filepath.Base(f); filepath.Dir(f) == "/usr/share/baresip" && len(base) > 5 && base[:5] == "sound" {
				continue // sound0.wav … soundstar.wav are DTMF keys
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			h := sha256.Sum256(b)
			if seen[h] {
				continue
			}
			seen[h] = true
			out = append(out, f)
		}
	}
	return out
}

// soundClips loads soundFiles; unreadable formats are skipped.
func soundClips(t testing.TB, tmp string) []clip {
	t.Helper()
	if _, err := exec.LookPath("sox"); err != nil {
		return nil
	}
	var cs []clip
	for _, f := range soundFiles() {
		raw := filepath.Join(tmp, "probe.raw")
		if err := exec.Command("sox", "-R", f, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", raw,
			"remix", "-", "rate", "-v", "8000", "trim", "0", "0.1").Run(); err != nil {
			continue
		}
		cs = append(cs, clip{name: f, pcm: loadAudio(t, f, tmp)})
	}
	return cs
}

// falseDigits runs a fresh detector over each clip and returns the presses
// found (all false: the material holds no keys) and the audio length.
func falseDigits(cs []clip) (map[string][]Event, time.Duration) {
	found := map[string][]Event{}
	var total time.Duration
	d := NewDetector(Config{})
	for _, c := range cs {
		total += c.length()
		emit := func(e Event) {
			if e.Kind == End {
				found[c.name] = append(found[c.name], e)
			}
		}
		d.Process(c.pcm, emit)
		d.Flush(emit)
	}
	return found, total
}

func countEvents(m map[string][]Event) int {
	n := 0
	for _, evs := range m {
		n += len(evs)
	}
	return n
}

func perHour(n int, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", float64(n)/d.Hours())
}
