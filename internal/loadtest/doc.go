// Package loadtest measures what call media costs: it runs many
// simultaneous calls through a real sipphone server started as a child
// process on loopback, each call sending paced G.711 RTP and each with a
// listening audio WebSocket, and reports packet loss, the latency from an
// RTP packet's send to the arrival of the WebSocket frame carrying its
// audio, CPU per call and resident memory. The same callers also drive a
// bare relay (UDP in, the same payload out on a WebSocket, nothing else)
// in another child process: the cost floor of this machine, measured in
// the same run.
//
// Latency is measured from outside the server by marking the audio: the
// first bytes of every packet's payload carry a counter that survives the
// server's G.711 decode and encode (see PutMark), so each frame the client
// receives names the packet it came from.
//
// It is larger than most packages (about 2,000 lines) because it runs the server and a bare relay
// as child processes, drives their calls and measures them; all of it is the one measurement.
package loadtest
