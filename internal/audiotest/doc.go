// Package audiotest is "sipphone audiotest": an end-to-end check of the
// audio path, from a simulated HT802 through the server to an audio-stream
// client and back.
//
// It starts the real server in-process (or uses a running one), registers a
// simulated phone (internal/sim), sets up a call, and opens audio streams
// (16-bit PCM at each tested client rate) like any client would. Then:
//
//   - phone to client and client to phone: a -10 dBm0 test tone is sent
//     each way and the received one measured: level, frequency and the
//     signal-to-distortion ratio of a sine fitted by least squares, which is
//     what the G.711 round trip leaves of the signal (about 38 dB for
//     mu-law at -10 dBm0);
//   - latency: markers (40 ms bursts that start at their peak) are sent each
//     way; a marker's latency runs from the packet (or WebSocket frame) that
//     carries its first sample leaving the sender to the first sample
//     arriving at the other end;
//   - loopback: with the server echoing the phone's audio back to it, the
//     same tone and markers measure the round trip through the server.
//
// The report gives PASS/FAIL against the original design's targets: under
// 100 ms one way (200 ms round trip), SNR of at least 30 dB, level within
// 1 dB of what was sent.
//
// The simulated phone records what it receives but not when, so its
// arrival times come from polling its counters every 250 µs; its send times
// likewise, after lining a marker up with its 20 ms packet clock. Latencies
// are good to about a millisecond.
//
// It is larger than most packages (about 1,800 lines) because it carries its own simulated phone
// driver, analysis and report; all of it serves the one end-to-end test.
package audiotest
