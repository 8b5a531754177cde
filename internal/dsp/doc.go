// Package dsp is the audio signal processing of the phone: pure functions and
// small single-owner state that turn samples into other samples or numbers.
//
// It covers G.711 mu-law and A-law companding (table driven), a streaming
// band-limited resampler between 8 kHz telephone audio and the rates
// clients ask for, signal levels in dBFS and dBm0, test-signal generation
// (tones, dual tones, noise), the wire formats offered to streaming clients,
// and reading and writing WAV files.
//
// Nothing here touches sockets or goroutines. The per-frame functions and
// methods (G.711, [EncodeFrame], [DecodeFrame], [Resampler.Process], [Level])
// do not allocate, so they can run on the RTP path for every 20 ms frame.
//
// Samples are signed 16-bit linear PCM ([]int16) at a known rate; 8000 Hz
// is the rate of the telephone line.
//
// It is somewhat over 1,000 lines because the band-limited resampler and the WAV reader with its
// format variants are each a few hundred lines; they share the sample conventions of this package.
package dsp
