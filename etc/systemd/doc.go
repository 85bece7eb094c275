// Package systemd holds no code: the unit files beside this file start
// AVE's daemons under systemd, and units_test.go checks them with
// systemd-analyze against the binaries this tree builds.
package systemd
