package rtp

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// The kernel stamps each datagram with its arrival time (SO_TIMESTAMPNS,
// socket(7)), so a packet's arrival is when it reached the socket, not
// when the reading goroutine got to run: on a busy machine the jitter
// buffer then measures the network's jitter, not the scheduler's.

// oobLen holds one SCM_TIMESTAMPNS control message.
var oobLen = syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{})))

// enableStamps asks the kernel for arrival stamps; false when it refuses.
func enableStamps(conn *net.UDPConn) bool {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// stamp returns the arrival time in the control messages oob, or now.
// It does not allocate.
func stamp(oob []byte, now time.Time) time.Time {
	hdr := syscall.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			break
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && n-hdr >= int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[hdr]))
			t := time.Unix(int64(ts.Sec), int64(ts.Nsec))
			// The stamp is wall-clock time; keep now's monotonic reading
			// and move it back by the time the packet waited.
			if wait := now.Sub(t); wait >= 0 && wait < time.Second {
				return now.Add(-wait)
			}
			return now
		}
		n = syscall.CmsgSpace(n - hdr)
		if n > len(oob) {
			break
		}
		oob = oob[n:]
	}
	return now
}
