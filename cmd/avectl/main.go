// Command avectl administers aveserver: status, reload, and scans of files
// and directories from the command line.
//
//	avectl [--socket PATH] [-c FILE] status [--json] [--wait DURATION]
//	avectl [--socket PATH] reload
//	avectl [--socket PATH] scan [--json] [--jobs N] [--server-path] [--quiet] PATH...
//	avectl [-c FILE] check
//	avectl [-c FILE] quarantine [--backup|--mail] [--store DIR] [--key FILE] list|show|restore|release|delete [ID]
//
// scan exits 0 when everything is clean, 1 when something was found
// (any status other than CLEAN), 2 on errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"ave/pkg/config"
	"ave/pkg/scanclient"
)

const usage = `usage: avectl [--socket PATH] [-c FILE] COMMAND [ARGS]

commands:
  status [--json] [--wait D] database version, signature counts, workers, counters;
                           --wait 30s waits up to 30 s for the daemon to answer
  reload                   reload the signature database (the old one stays on failure)
  scan [flags] PATH...     scan files and directories (recursively)
      --json               one JSON object per line: path, status, name, reason, ...
      --jobs N             scans in flight at once (default 2)
      --server-path        let aveserver open the files itself (same host)
      --quiet              print only what is not clean
      --timeout D          per-object time limit (default 2m)
  check                    read the configuration file (-c, default ` + config.DefaultConfigFile + `) as every
                           program does and print each problem (exit 1), or "ok"
  quarantine [--backup|--mail] [--store DIR] [--key FILE]
      list|show ID|restore ID [--to PATH] [--force]|release ID [--to ADDR]...|delete ID
                           the encrypted quarantine (or backup) store of [scanner.path],
                           or smtpscanner's mail quarantine (--mail): "avectl quarantine
                           help" for the details

exit status of scan: 0 all clean, 1 something found, 2 errors
the socket defaults to $AVE_SOCKET, then [aveserver.general] ListenAddress of
the configuration file, then ` + config.DefaultSocket + "\n"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("avectl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	socket := fs.String("socket", "", "aveserver socket")
	cfgFile := fs.String("c", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd { // local: no daemon
	case "quarantine":
		return cmdQuarantine(*cfgFile, rest, stdout, stderr)
	case "check":
		return cmdCheck(*cfgFile, rest, stdout, stderr)
	}
	addr, err := socketAddress(*socket, *cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, "avectl:", err)
		return 2
	}
	c, err := scanclient.Dial(addr)
	if err != nil {
		fmt.Fprintln(stderr, "avectl:", err)
		return 2
	}
	defer c.Close()
	switch cmd {
	case "status":
		return cmdStatus(c, rest, stdout, stderr)
	case "reload":
		return cmdReload(c, stdout, stderr)
	case "scan":
		return cmdScan(c, rest, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "avectl: unknown command %q\n", cmd)
	fs.Usage()
	return 2
}

// socketAddress picks the socket: flag, $AVE_SOCKET, config file, default.
func socketAddress(flagValue, cfgFile string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := os.Getenv("AVE_SOCKET"); env != "" {
		return env, nil
	}
	if cfgFile == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			cfgFile = config.DefaultConfigFile
		}
	}
	cfg, err := config.LoadAVEServer(cfgFile)
	if err != nil {
		return "", err
	}
	return cfg.ClientAddress(), nil
}

func cmdReload(c *scanclient.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := c.Reload(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "avectl: reload:", err)
		return 2
	}
	fmt.Fprintf(stdout, "reloaded: version %s in %d ms; signatures %v\n", r.GetDbVersion(), r.GetLoadMs(), sortedCounts(r.GetSignatures()))
	for _, u := range r.GetUntranslatable() {
		fmt.Fprintln(stdout, "untranslatable:", u)
	}
	return 0
}
