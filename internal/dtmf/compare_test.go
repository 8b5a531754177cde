package dtmf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompareMultimon runs every receiver figure and the talk-off corpus
// through this detector and through multimon-ng's DTMF decoder and writes a
// side-by-side table. It runs only with DTMF_COMPARE=1; see
// scripts/dtmf-compare.sh, which also sets DTMF_COMPARE_OUT to the file that
// receives the Markdown table.
//
// multimon-ng reads raw signed 16-bit mono at 22050 Hz, so each signal,
// after the same G.711 round trip, is resampled from 8 kHz with sox's
// high-quality rate effect. multimon-ng reports keys but no times, so its
// cases pass on the key sequence alone; ours must also time every press
// within ±10 ms where the case says so.
func TestCompareMultimon(t *testing.T) {
	if os.Getenv("DTMF_COMPARE") == "" {
		t.Skip("set DTMF_COMPARE=1 to compare with multimon-ng (scripts/dtmf-compare.sh)")
	}
	requireTools(t, "multimon-ng", "sox")
	tmp := t.TempDir()
	mmDet := func(pcm []int16) string { return multimonKeys(t, tmp, pcm) }
	// spandsp's receiver, when scripts/dtmf-spandsp-rx.sh could build it.
	spBin := os.Getenv("DTMF_SPANDSP")
	spDet := func(pcm []int16) string { return spandspKeys(t, tmp, spBin, pcm) }
	var b strings.Builder

	// The receiver sweeps of the table, with their goals.
	fmt.Fprintf(&b, "| figure | ours | spandsp | multimon-ng | goal |\n|---|---|---|---|---|\n")
	dr := func(det keyDetector) string {
		lowest, r := dynamicRange(det)
		if r <= 0 {
			return "none"
		}
		return fmt.Sprintf("%d dB (+3 to %.0f dBm0)", r, lowest)
	}
	dial := func(det keyDetector) string { return sweepResult(dialToneRatio(det)) }
	snr := func(det keyDetector) string { return sweepResult(lowestSNR(det)) }
	sp := func(f func(keyDetector) string) string {
		if spBin == "" {
			return "not built"
		}
		return f(spDet)
	}
	fmt.Fprintf(&b, "| dynamic range (digit 1, both tones from +3 dBm0 down in 1 dB steps, 50 ms on/off) | %s | %s | %s | >= %d dB |\n",
		dr(oursKeys), sp(dr), dr(mmDet), goalDynamicRange)
	fmt.Fprintf(&b, "| lowest digit/dial-tone ratio still exact (16 digits at -15 dBm0, 350+440 Hz) | %s | %s | %s | <= %d dB |\n",
		dial(oursKeys), sp(dial), dial(mmDet), goalDialTone)
	fmt.Fprintf(&b, "| S/N for 100/100 detected (digit 1 at -4 dBm0, white noise) | %s | %s | %s | <= %d dB |\n\n",
		snr(oursKeys), sp(snr), snr(mmDet), goalSNR)

	fmt.Fprintf(&b, "| figure | case | expected | ours | spandsp | multimon-ng |\n|---|---|---|---|---|---|\n")
	oursPass, spPass, mmPass, n := 0, 0, 0, 0
	for _, c := range figureCases() {
		sig := c.build()
		pcm := sig.g711()
		evs := detectAll(pcm, 160)
		ours := keysOf(evs)
		oursOK := ours == c.want && (!c.timed || timingOK(evs, sig.marks))
		mm := multimonKeys(t, tmp, pcm)
		mmOK := mm == c.want
		spShown := "not built"
		if spBin != "" {
			k := spDet(pcm)
			spShown = verdict(k == c.want, k, c.want)
			if k == c.want {
				spPass++
			}
		}
		n++
		if oursOK {
			oursPass++
		}
		if mmOK {
			mmPass++
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.figure, c.name, shown(c.want), verdict(oursOK, ours, c.want), spShown, verdict(mmOK, mm, c.want))
	}
	fmt.Fprintf(&b, "| **total** | %d cases | | **%d pass** | **%d pass** | **%d pass** |\n", n, oursPass, spPass, mmPass)

	// Talk-off: every key found is false.
	fmt.Fprintf(&b, "\n| talk-off material | audio | ours: false keys | ours: per hour | multimon-ng: false keys | multimon-ng: per hour |\n|---|---|---|---|---|---|\n")
	groups := []struct {
		name  string
		clips []clip
	}{
		{"speech, espeak-ng", speechClips(t, tmp)},
		{"sound files from Debian packages", soundClips(t, tmp)},
	}
	for _, g := range groups {
		found, total := falseDigits(g.clips)
		ours := countEvents(found)
		mm := 0
		for _, c := range g.clips {
			keys := multimonKeys(t, tmp, c.pcm)
			if keys != "" {
				t.Logf("multimon-ng talk-off in %s: %q", c.name, keys)
			}
			mm += len(keys)
		}
		for name, evs := range found {
			t.Logf("our talk-off in %s: %v", name, evs)
		}
		fmt.Fprintf(&b, "| %s (%d clips) | %v | %d | %s | %d | %s |\n", g.name, len(g.clips), total.Round(time.Second),
			ours, perHour(ours, total), mm, perHour(mm, total))
	}

	// Keys over speech.
	fmt.Fprintf(&b, "\n| keys over speech | ours: found | ours: extra | multimon-ng: found | multimon-ng: extra |\n|---|---|---|---|---|\n")
	speech := groups[0].clips
	for _, above := range []float64{15, 10, 6, 0} {
		var placed, of, oe, mf, me int
		for ci, c := range speech {
			want, got, pcm := keysOverSpeechPCM(c.pcm, above, uint64(ci))
			mm := multimonKeys(t, tmp, pcm)
			placed += len(want)
			f := matched(want, got)
			of, oe = of+f, oe+len(got)-f
			f = matched(want, mm)
			mf, me = mf+f, me+len(mm)-f
		}
		fmt.Fprintf(&b, "| keys %g dB above speech (%d keys) | %d | %d | %d | %d |\n", above, placed, of, oe, mf, me)
	}

	table := b.String()
	t.Log("\n" + table)
	if out := os.Getenv("DTMF_COMPARE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sweepResult formats the end of a sweep; a value above the sweep's start
// means the first step already failed.
func sweepResult(db float64) string {
	if db > 20 {
		return "fails at +20 dB"
	}
	return fmt.Sprintf("%.0f dB", db)
}

// spandspKeys returns the keys spandsp's receiver (the test program built
// by scripts/dtmf-spandsp-rx.sh) finds in 8 kHz pcm.
func spandspKeys(t testing.TB, tmp, bin string, pcm []int16) string {
	t.Helper()
	in := filepath.Join(tmp, "sp8k.raw")
	buf := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
	}
	if err := os.WriteFile(in, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, in).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return strings.TrimSpace(string(out))
}

// timingOK reports whether every press matches its mark within ±10 ms.
func timingOK(evs []Event, marks []mark) bool {
	ends := endsOf(evs)
	if len(ends) != len(marks) {
		return false
	}
	for i, e := range ends {
		if absDur(e.Start-marks[i].start) > timingTolerance || absDur(e.Duration-marks[i].dur) > timingTolerance {
			return false
		}
	}
	return true
}

func shown(keys string) string {
	if keys == "" {
		return "none"
	}
	return "`" + keys + "`"
}

func verdict(ok bool, got, want string) string {
	if ok {
		return "pass"
	}
	if got == want {
		return "FAIL (timing)"
	}
	if len(got) > 24 {
		got = got[:24] + "…"
	}
	return "FAIL: " + shown(got)
}

// multimonKeys resamples 8 kHz pcm to 22050 Hz and returns the keys
// multimon-ng's DTMF decoder reports.
func multimonKeys(t testing.TB, tmp string, pcm []int16) string {
	t.Helper()
	in, out := filepath.Join(tmp, "mm8k.raw"), filepath.Join(tmp, "mm22k.raw")
	buf := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
	}
	if err := os.WriteFile(in, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "sox", "-R", "-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1", "-L", in,
		"-t", "raw", "-r", "22050", "-e", "signed-integer", "-b", "16", "-c", "1", "-L", out, "rate", "-v")
	cmd := exec.Command("multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", out)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("multimon-ng: %v", err)
	}
	var keys strings.Builder
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "DTMF: "); ok && len(k) == 1 {
			keys.WriteString(k)
		}
	}
	return keys.String()
}
