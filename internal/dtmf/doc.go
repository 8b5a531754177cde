// Package dtmf detects DTMF key presses in decoded telephone audio.
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
//   - each tone from -26 dBm0 up to the largest pair a G.711 channel carries
//     (about -3 dBm0 per tone) is accepted, -32 dBm0 and below is not.
//
// # Method
//
// The audio is cut into 2.5 ms sub-blocks. For each sub-block the detector
// takes the complex DFT at the eight DTMF frequencies (a direct 20-point
// correlation with precomputed tables, equivalent to running a Goertzel
// filter over the sub-block) and the sub-block energy. Every 2.5 ms the last
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
//   - the two tones must hold most of the window's energy (0.75 in any
//     window, and MinToneRatio, 0.85, averaged over the better half of the
//     windows of a press). Speech, music, noise and any second harmonic all
//     add energy outside the two tones, so this test also covers the
//     classic second-harmonic (talk-off) check;
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
