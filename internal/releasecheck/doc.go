// Package releasecheck holds the checks of the release binaries that the
// unit tests of the other packages cannot make: the cross-built linux/arm64
// and linux/arm/v7 binaries, run under Debian's qemu-user, serve a real SIP
// phone (baresip) end to end. See qemu_test.go and scripts/arm-check.sh.
package releasecheck
