// Package timerslack gives a daemon's threads a larger timer slack
// (prctl PR_SET_TIMERSLACK; systemd's TimerSlackNSec=), so that the Go
// runtime's own timed sleeps wake it less often.
//
// Under load the runtime's monitor thread (sysmon) sleeps 20 us at a
// time whenever it has just taken a processor from a goroutine blocked in
// a system call (an fsync, a cgo call into libyara), and timed futex and
// epoll waits end as precisely as the kernel can make them. On the
// development VM every such wake-up is a context switch that costs
// several microseconds; they were about a third of smtpscanner's context
// switches per mail message. With a slack of 1 ms the kernel may let
// those timed waits run up to 1 ms longer and fold them into other
// wake-ups: smtpscanner went from 32 to 20 context switches per message,
// aveserver from 14 to 8. Waits that end on an event (data on a socket,
// a futex wake-up) are not delayed; only time-outs may end up to the
// slack late, which no SMTP or scan time-out notices.
//
// A thread inherits the slack of the thread that creates it, and the
// runtime creates sysmon before main runs, so Apply sets the slack of
// the current thread and re-executes the program (same PID, arguments,
// environment and open descriptors): every thread of the new image
// descends from that thread. The program is re-executed by its own path
// (os.Executable), so that the process keeps its name: the kernel names
// a process after the file it executes, and through /proc/self/exe ps,
// top and pkill would all show "exe". Only when that path is gone (the
// binary was replaced or removed since the start) is /proc/self/exe
// used.
package timerslack

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Env names the environment variable that overrides the slack: a Go
// duration ("1ms", "200us"), or "0" / "off" to leave the system's (50 us
// by default).
const Env = "AVE_TIMER_SLACK"

// Default is the slack Apply sets when Env is unset.
const Default = time.Millisecond

const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// Apply makes sure the process runs with the timer slack of Env (or
// Default): when its slack differs, it sets it and re-executes the
// program, so it returns only when nothing was to be done or on an error
// (the program then runs on with the system's slack).
func Apply() error {
	want, err := wanted(os.Getenv(Env))
	if err != nil || want == 0 {
		return err
	}
	runtime.LockOSThread() // prctl and execve on one thread
	defer runtime.UnlockOSThread()
	cur, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno != 0 {
		return fmt.Errorf("timerslack: PR_GET_TIMERSLACK: %v", errno)
	}
	if time.Duration(cur) == want {
		return nil
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(want), 0); errno != 0 {
		return fmt.Errorf("timerslack: PR_SET_TIMERSLACK %v: %v", want, errno)
	}
	// A failed exec leaves this thread with the new slack and the others
	// with the old: harmless.
	if exe, err := os.Executable(); err == nil && sameFile(exe, "/proc/self/exe") {
		syscall.Exec(exe, os.Args, os.Environ()) // returns only on failure
	}
	if err := syscall.Exec("/proc/self/exe", os.Args, os.Environ()); err != nil {
		return fmt.Errorf("timerslack: re-executing %s: %v", os.Args[0], err)
	}
	return nil
}

// sameFile tells whether paths a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// OfProcess returns the timer slack of every thread of process pid (for
// tests and diagnostics: /proc/TID/timerslack_ns, Linux 4.6 and later).
func OfProcess(pid int) ([]time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for _, t := range tasks {
		// The file is /proc/TID/timerslack_ns, not under task/TID.
		b, err := os.ReadFile("/proc/" + t.Name() + "/timerslack_ns")
		if err != nil {
			return nil, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("timerslack: /proc/%s/timerslack_ns: %v", t.Name(), err)
		}
		out = append(out, time.Duration(ns))
	}
	return out, nil
}

// wanted parses the value of Env.
func wanted(v string) (time.Duration, error) {
	switch v {
	case "":
		return Default, nil
	case "0", "off":
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return 0, fmt.Errorf("timerslack: %s=%q: give a unit (%dns, 1ms)", Env, v, n)
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > time.Second {
		return 0, fmt.Errorf("timerslack: %s=%q: want a duration from 0 to 1s (1ms, 200us) or off", Env, v)
	}
	return d, nil
}
