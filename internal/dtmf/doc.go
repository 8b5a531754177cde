// Package dtmf is where every key press is recognised. A key reaches
// sipphone in one of three ways, each in its own place here:
//
//   - dtmf/rfc4733: RFC 4733 telephone-events in the RTP stream;
//   - dtmf/sipinfo: SIP INFO bodies (dtmf-relay, dtmf, hook-flash);
//   - this package: the in-band detector, for keys sent as tones in the audio;
//
// and dtmf/press holds the rule that makes them one event per press when
// the adapter sends a key by two methods at once. The rest of this comment
// is about the in-band detector.
//
// It is used when the analog telephone adapter is set to send keys
// "In-audio": the digits then arrive only as tone pairs inside the G.711
// stream, and a [Detector] turns the decoded 16-bit PCM back into key
// presses. The package has one concern, recognising the sixteen DTMF tone
// pairs of ITU-T Q.23, and it follows the receiver figures of ITU-T Q.24 and
// the Bellcore/AT&T specifications:
//
//   - each tone within ±1.5 % of nominal is accepted, one off by 3.5 % or
//     more is not;
//   - the high-group tone may be up to 8 dB weaker (normal twist) or up to
//     4 dB stronger (reverse twist) than the low-group tone;
//   - tones of 40 ms or more separated by pauses of 40 ms or more are
//     recognised, tones shorter than 23 ms never are, and a dropout of 10 ms
//     or less inside a tone does not split it;
//   - each tone from -43 dBm0 up to the largest pair a G.711 channel carries
//     (about +3 dBm0 for the pair) is accepted (47 dB of dynamic range), -47
//     dBm0 and below is not. This is wider than the AT&T figure (reject from
//     -32 dBm0): a quiet adapter port must still be heard, and the harmonic
//     and energy checks below keep speech out instead of a level floor.
//
// # Method
//
// The audio is cut into 2.5 ms sub-blocks. For each sub-block the detector
// takes the complex DFT at the eight DTMF frequencies and at the dial-tone
// frequencies 350 and 440 Hz (Goertzel filters over the sub-block; on amd64
// with AVX2 and FMA one assembly pass runs all ten, checked against the Go
// loops by a test) and the sub-block energy. Every 2.5 ms the last
// five sub-blocks form a 12.5 ms analysis window (100 samples at 8 kHz, a
// bin spacing of 80 Hz). Because the sub-block values keep their phase, the
// window can do more than compare magnitudes:
//
//   - the strongest frequency of each group is chosen;
//   - the phase advance between the halves of the window measures each
//     tone's real frequency, so the ±1.5 % / 3.5 % limits are tested as
//     relative frequency errors, which one fixed-bandwidth filter per tone
//     cannot do for both the 697 Hz and the 1633 Hz tone;
//   - the tone power is then summed with that frequency correction, so a
//     tone 1.5 % off nominal loses no level;
//   - dial tone is measured and left out of the window's energy, and a
//     least-squares unmix separates the key tones from the dial tone and
//     from their mirror images before their frequencies are measured;
//   - the two tones must hold most of the remaining energy (0.62 in any
//     window, 0.72 averaged over the better half of the windows of a press);
//   - speech is kept out by a harmonic check: other harmonics of the same
//     fundamental (at f_hi - f_lo, 2f_lo - f_hi and 2f_hi - f_lo) must stay
//     15 dB under the tones in every window and 16 dB on average;
//   - each tone must reach MinLevel and the twist must be within limits.
//
// A press is declared when the same key holds for at least eight
// consecutive windows and the tone, timed from the sub-block amplitudes to
// about a millisecond, has lasted at least MinDuration (30 ms). It ends
// after 35 ms without that key, which bridges dropouts of up to about 24 ms
// and splits on pauses from about 28 ms. Start and duration are reported
// from the sub-block edges, not from the window grid.
//
// Samples are buffered to the sub-block grid, so the events do not depend on
// how the caller cuts the stream into frames. [Detector.Process] does not
// allocate. The figures are tested at 8000 Hz (G.711); other rates that are
// a multiple of 400 Hz are accepted and 16000 Hz is checked on one key.
package dtmf
