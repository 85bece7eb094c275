package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"ave/pkg/config"
	"ave/pkg/quarantine"
)

const quarantineUsage = `usage: avectl [-c FILE] quarantine [--backup] [--dir DIR] [--key FILE] COMMAND
  list [--json]                 entries, oldest first: ID, time, status, names, path
  show ID                       write the decrypted content to standard output
  restore ID [--to PATH] [--force]  put the object back (default: where it was)
  delete ID                     remove the entry
--backup uses [scanner.path] BackupPath instead of QuarantinePath; --dir
and --key override the configuration.
`

// cmdQuarantine manages the quarantine and backup stores (pkg/quarantine).
func cmdQuarantine(cfgFile string, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("quarantine", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, quarantineUsage) }
	backup := fl.Bool("backup", false, "the backup store")
	dir := fl.String("dir", "", "store directory")
	key := fl.String("key", "", "key file")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if cfgFile == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			cfgFile = config.DefaultConfigFile
		}
	}
	cfg, err := config.LoadScanner(cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, "avectl:", err)
		return 2
	}
	d := cfg.QuarantinePath
	if *backup {
		d = cfg.BackupPath
	}
	if *dir != "" {
		d = *dir
	}
	k := cfg.KeyFile
	if *key != "" {
		k = *key
	}
	if d == "" {
		fmt.Fprintln(stderr, "avectl: quarantine: no store directory (BackupPath is not set)")
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	s, err := quarantine.Open(d, k)
	if err != nil {
		fmt.Fprintln(stderr, "avectl:", err)
		return 2
	}
	cmd, rest := fl.Arg(0), fl.Args()[1:]
	sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	asJSON := sub.Bool("json", false, "JSON lines")
	to := sub.String("to", "", "restore to PATH")
	force := sub.Bool("force", false, "replace an existing file")
	if err := sub.Parse(rest); err != nil {
		return 2
	}
	needID := func() (string, bool) {
		if sub.NArg() != 1 {
			fmt.Fprintf(stderr, "avectl: quarantine %s: one ID expected\n", cmd)
			return "", false
		}
		return sub.Arg(0), true
	}
	failed := func(err error) int {
		fmt.Fprintln(stderr, "avectl:", err)
		if errors.Is(err, quarantine.ErrNotFound) {
			return 1
		}
		return 2
	}
	switch cmd {
	case "list":
		entries, err := s.List()
		if err != nil {
			return failed(err)
		}
		for _, e := range entries {
			if *asJSON {
				b, _ := json.Marshal(e)
				fmt.Fprintln(stdout, string(b))
				continue
			}
			fmt.Fprintf(stdout, "%s  %s  %-10s %-24s %8d  %q\n", e.ID, e.Stored.Local().Format("2006-01-02 15:04:05"),
				e.Status, strings.Join(e.Names, ","), e.Size, e.Path)
		}
		return 0
	case "show":
		id, ok := needID()
		if !ok {
			return 2
		}
		if _, err := s.WriteTo(id, stdout); err != nil {
			return failed(err)
		}
		return 0
	case "restore":
		id, ok := needID()
		if !ok {
			return 2
		}
		p, err := s.Restore(id, *to, *force)
		if err != nil {
			return failed(err)
		}
		fmt.Fprintf(stdout, "restored %s to %q\n", id, p)
		return 0
	case "delete":
		id, ok := needID()
		if !ok {
			return 2
		}
		if err := s.Delete(id); err != nil {
			return failed(err)
		}
		fmt.Fprintf(stdout, "deleted %s\n", id)
		return 0
	}
	fmt.Fprintf(stderr, "avectl: quarantine: unknown command %q\n", cmd)
	fl.Usage()
	return 2
}
