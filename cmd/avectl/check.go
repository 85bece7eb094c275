package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"ave/pkg/config"
	"ave/pkg/mailnotify"
	"ave/pkg/updater"
)

// cmdCheck reads the configuration file as every program would (aveserver,
// kavscanner, smtpscanner and its mail policy, the notification templates
// it names, qmail-queue, keepup2date) and prints each problem once, or "FILE: ok". It runs nothing
// and changes nothing: run it before a SIGHUP or a restart. Exit 0 when
// the file is good, 1 when not, 2 on usage errors.
func cmdCheck(cfgFile string, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "avectl: check: unexpected argument %q\n", args[0])
		return 2
	}
	file := cfgFile
	if file == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err != nil {
			fmt.Fprintf(stderr, "avectl: check: no -c FILE and no %s\n", config.DefaultConfigFile)
			return 2
		}
		file = config.DefaultConfigFile
	}
	if _, err := os.Stat(file); err != nil {
		fmt.Fprintln(stderr, "avectl: check:", err)
		return 2
	}
	_, e1 := config.LoadAVEServer(file)
	_, e2 := config.LoadScanner(file)
	sc, e3 := config.LoadSMTPScan(file)
	mp, e4 := config.LoadMailPolicy(file)
	q, e5 := config.LoadQmail(file)
	uc, e6 := config.LoadUpdater(file)
	errs := []error{e1, e2, e3, e4, e5, e6}
	if e3 == nil && sc.ForwardMailer.Network == "exec" {
		if _, err := exec.LookPath(sc.ForwardMailer.Argv[0]); err != nil {
			errs = append(errs, fmt.Errorf("%s: [smtpscan.general] ForwardMailer: %w", file, err))
		}
	}
	// qmail-queue hands clean mail to OriginalQueue. A host without qmail
	// (no such directory) does not use it; where the directory exists, a
	// missing original would make every injection fail.
	if e5 == nil {
		if _, err := os.Stat(filepath.Dir(q.OriginalQueue)); err == nil {
			if _, err := exec.LookPath(q.OriginalQueue); err != nil {
				errs = append(errs, fmt.Errorf("%s: [qmail.general] OriginalQueue: %w (rename qmail's own qmail-queue to it before installing AVE's)", file, err))
			}
		}
	}
	if e6 == nil && uc.PublicKeyFile != "" {
		if _, err := updater.ReadPublicKey(uc.PublicKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("%s: [updater.options] PublicKeyFile: %w", file, err))
		}
	}
	if e4 == nil {
		if _, err := mailnotify.Load(mp.Notify.TemplatePath); err != nil {
			errs = append(errs, fmt.Errorf("%s: [smtpscan.notify] TemplatePath: %w", file, err))
		}
	}
	// The loaders share the file's checks (unknown sections and keys):
	// each problem is printed once.
	seen := map[string]bool{}
	n := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		for _, line := range strings.Split(errors.Join(err).Error(), "\n") {
			if line == "" || seen[line] {
				continue
			}
			seen[line] = true
			fmt.Fprintln(stdout, line)
			n++
		}
	}
	if n > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return 0
}
