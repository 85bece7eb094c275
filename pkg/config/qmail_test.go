package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadQmail(t *testing.T) {
	c, err := LoadQmail("")
	if err != nil || c != DefaultQmail() {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	p := writeConf(t, `
[qmail.general]
OriginalQueue = /var/qmail/bin/qmail-queue.real
SpoolDir = /var/spool/ave/qmail
ScannedHeader =
MaxCheckTime = 30
ForwardTimeout = 2m
`)
	c, err = LoadQmail(p)
	want := Qmail{OriginalQueue: "/var/qmail/bin/qmail-queue.real", SpoolDir: "/var/spool/ave/qmail", MaxCheckTime: 30 * time.Second, ForwardTimeout: 2 * time.Minute}
	if err != nil || c != want {
		t.Fatalf("got %+v, %v; want %+v", c, err, want)
	}
	p = writeConf(t, `
[qmail.general]
OriginalQueue = qmail-queue.orig
SpoolDir = spool
MaxCheckTime = soon
Queue = x
[qmail.other]
`)
	_, err = LoadQmail(p)
	for _, w := range []string{"[qmail.general] OriginalQueue=qmail-queue.orig: expected an absolute path",
		"[qmail.general] SpoolDir=spool: expected an absolute path", "[qmail.general] MaxCheckTime=soon",
		"[qmail.general] Queue: unknown key", "[qmail.other]: unknown section"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
