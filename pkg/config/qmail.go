package config

import "time"

// Qmail is the [qmail.general] section: qmail-queue, AVE's drop-in
// replacement of qmail's qmail-queue. The mail policy and the settings the
// two mail front-ends share (ServerAddress, Hostname, TagHeader,
// QuarantineKeyFile of [smtpscan.general]; the [smtpscan.group:*] rules,
// notifications and report) come from smtpscanner's sections.
type Qmail struct {
	OriginalQueue  string        // the real qmail-queue, renamed: what clean mail is handed to
	SpoolDir       string        // "" = a private directory under $TMPDIR for each run
	ScannedHeader  string        // header line added to every message passed on ("" = none)
	MaxCheckTime   time.Duration // time allowed to scan one message before exit 71
	ForwardTimeout time.Duration // time allowed to OriginalQueue
}

// DefaultQmail is the configuration used with no file.
func DefaultQmail() Qmail {
	return Qmail{
		OriginalQueue:  "/var/qmail/bin/qmail-queue.orig",
		ScannedHeader:  "X-Virus-Scanned: AVE qmail-queue",
		MaxCheckTime:   60 * time.Second,
		ForwardTimeout: 10 * time.Minute,
	}
}

// LoadQmail reads [qmail.general] of file over the defaults. An empty
// file name gives the defaults.
func LoadQmail(file string) (Qmail, error) {
	c := DefaultQmail()
	s := schema{prefix: "qmail.", owned: map[string]section{
		"qmail.general": {
			"originalqueue":  absPath(&c.OriginalQueue),
			"spooldir":       optAbsPath(&c.SpoolDir),
			"scannedheader":  headerLine(&c.ScannedHeader),
			"maxchecktime":   duration(&c.MaxCheckTime, time.Second),
			"forwardtimeout": duration(&c.ForwardTimeout, time.Second),
		},
	}}
	if err := s.apply(file); err != nil {
		return c, err
	}
	return c, nil
}
