//go:build !linux

package rtp

import (
	"net"
	"time"
)

const oobLen = 0

func enableStamps(*net.UDPConn) bool { return false }

func stamp(_ []byte, now time.Time) time.Time { return now }
