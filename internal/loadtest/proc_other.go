//go:build !linux

package loadtest

import (
	"errors"
	"os/exec"
	"time"
)

var errNoProc = errors.New("loadtest: CPU and memory are read from /proc, which this system does not have")

func procCPU(pid int) (time.Duration, error) { return 0, errNoProc }

func procRSS(pid int) (rss, peak int64, err error) { return 0, 0, errNoProc }

type cpuTimes struct{ idle, softirq, steal time.Duration }

func machineCPU() (cpuTimes, error) { return cpuTimes{}, errNoProc }

func dieWithParent(cmd *exec.Cmd) {}
