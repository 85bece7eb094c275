// Command keepup2date updates aveserver's signature DB from the mirrors
// of [updater.options] UpdateServerUrl (http(s) URLs or directories): it
// checks the manifest's signature and every file's digest, swaps the new
// DB in beside the old one and asks aveserver to reload; if aveserver
// refuses the new DB, the old one is put back and reloaded. Run it from
// cron.
//
//	keepup2date [-c FILE] [--socket PATH]             update now
//	keepup2date [-c FILE] [--socket PATH] --rollback  put the previous DB back
//	keepup2date --sign KEY --version V DIR           write DIR/manifest and manifest.sig (DB publishers)
//	keepup2date --genkey PREFIX                      write PREFIX.key and PREFIX.pub (ed25519)
//
// Exit status: 0 updated or already up to date, 1 the update failed (the
// DB in place is unchanged or was put back), 2 usage or configuration.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"ave/pkg/config"
	"ave/pkg/scanclient"
	"ave/pkg/updater"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepup2date", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("c", "", "configuration file (default "+config.DefaultConfigFile+" if it exists)")
	socket := fs.String("socket", "", "aveserver socket (default [aveserver.general] ListenAddress)")
	rollback := fs.Bool("rollback", false, "put the previous DB back and reload")
	sign := fs.String("sign", "", "private key file: write DIR/manifest and DIR/manifest.sig")
	version := fs.String("version", "", "with --sign: the DB version")
	genkey := fs.String("genkey", "", "write PREFIX.key (private) and PREFIX.pub (public)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("prog", "keepup2date")
	switch {
	case *genkey != "":
		return genKey(*genkey, stdout, stderr)
	case *sign != "":
		if fs.NArg() != 1 || *version == "" {
			fmt.Fprintln(stderr, "keepup2date: --sign KEY --version V DIR")
			return 2
		}
		return signDir(*sign, *version, fs.Arg(0), stdout, stderr)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keepup2date: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	file := *cfgFile
	if file == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			file = config.DefaultConfigFile
		}
	}
	opt, server, reload, post, timeout, err := load(file, log)
	if err != nil {
		fmt.Fprintln(stderr, "keepup2date:", err)
		return 2
	}
	if !*rollback {
		// What Update would refuse, found here: configuration errors
		// (exit 2), not failed updates (exit 1, a timer retries those).
		where := file
		if where == "" {
			where = "built-in defaults"
		}
		switch {
		case len(opt.Sources) == 0:
			fmt.Fprintf(stderr, "keepup2date: %s: [updater.options] UpdateServerUrl: no update source set\n", where)
			return 2
		case opt.PublicKey == nil && !opt.AllowUnsigned:
			fmt.Fprintf(stderr, "keepup2date: %s: [updater.options] PublicKeyFile: none set to check the manifest's signature (or AllowUnsigned=yes)\n", where)
			return 2
		}
	}
	if *socket != "" {
		server = *socket
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// One lock for the whole run: the update and a rollback after a
	// refusal are one step to a second keepup2date.
	unlock, err := updater.Lock(opt)
	if err != nil {
		log.Error("update", "error", err.Error())
		return 1
	}
	defer unlock()
	opt.Locked = true
	if *rollback {
		v, err := updater.Rollback(opt)
		if err != nil {
			log.Error("rollback", "error", err.Error())
			return 1
		}
		log.Info("rolled back", "version", v, "bases", opt.BasesPath)
		if reload {
			reloadServer(context.Background(), server, log)
		}
		return 0
	}
	res, err := updater.Update(ctx, opt)
	if err != nil {
		log.Error("update failed; the DB in place is unchanged", "bases", opt.BasesPath, "error", err.Error())
		return 1
	}
	if !res.Updated {
		log.Info("up to date", "version", res.From, "source", res.Source)
		return 0
	}
	if reload {
		err := reloadServer(context.Background(), server, log)
		if err != nil && !errors.Is(err, scanclient.ErrRefused) {
			// Not an answer about the DB (a time-out, a busy daemon): it
			// stays on disk and loads at the next reload or start.
			log.Warn("aveserver did not reload; the new DB is on disk", "error", err.Error())
			err = nil
		}
		if err != nil {
			// The daemon refused the new DB (and kept the old one in
			// memory): the old one goes back on disk too.
			v, rerr := updater.Rollback(opt)
			if rerr != nil {
				log.Error("aveserver refused the new DB and the rollback failed", "error", err.Error(), "rollback", rerr.Error())
				return 1
			}
			log.Error("aveserver refused the new DB: rolled back", "version", v, "refused", res.To, "kept", opt.BasesPath+".bad", "error", err.Error())
			reloadServer(context.Background(), server, log)
			return 1
		}
	}
	if len(post) > 0 {
		cmd := exec.Command(post[0], post[1:]...)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			log.Warn("PostUpdateCmd failed", "cmd", strings.Join(post, " "), "error", err.Error())
		}
	}
	return 0
}

// load reads [updater.*] (and aveserver's BasesPath and socket).
func load(file string, log *slog.Logger) (opt updater.Options, server string, reload bool, post []string, timeout time.Duration, err error) {
	uc, err1 := config.LoadUpdater(file)
	av, err2 := config.LoadAVEServer(file)
	if err := errors.Join(err1, err2); err != nil {
		return opt, "", false, nil, 0, err
	}
	opt = updater.Options{Sources: uc.UpdateServerURLs, AllowUnsigned: uc.AllowUnsigned, MaxFileSize: uc.MaxFileSize,
		BasesPath: uc.BasesPath, BackUpPath: uc.BackUpPath, Log: log}
	if opt.BasesPath == "" {
		opt.BasesPath = av.BasesPath
	}
	if uc.PublicKeyFile != "" {
		if opt.PublicKey, err = updater.ReadPublicKey(uc.PublicKeyFile); err != nil {
			return opt, "", false, nil, 0, fmt.Errorf("%s: [updater.options] PublicKeyFile: %w", file, err)
		}
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: uc.ConnectTimeout}).DialContext,
		TLSHandshakeTimeout:   uc.ConnectTimeout,
		ResponseHeaderTimeout: uc.ConnectTimeout,
	}
	if uc.UseProxy {
		p, _ := url.Parse(uc.ProxyAddress) // checked by LoadUpdater
		tr.Proxy = http.ProxyURL(p)
	}
	opt.Client = &http.Client{Transport: tr}
	server = av.ClientAddress()
	return opt, server, uc.ReloadServer, uc.PostUpdateCmd, uc.UpdateTimeout, nil
}

// reloadServer asks aveserver to load the DB from disk (within 10
// minutes of its own, whatever is left of the run's). A daemon that is not
// running is not an error: it loads the DB when it starts. A DB it refuses
// is scanclient.ErrRefused.
func reloadServer(ctx context.Context, server string, log *slog.Logger) error {
	c, err := scanclient.Dial(server)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	r, err := c.Reload(ctx)
	if errors.Is(err, scanclient.ErrUnavailable) {
		log.Warn("aveserver not reachable: it loads the new DB when it starts", "socket", server)
		return nil
	}
	if err != nil {
		return err
	}
	log.Info("aveserver reloaded", "version", r.GetDbVersion(), "ms", r.GetLoadMs())
	return nil
}

func genKey(prefix string, stdout, stderr io.Writer) int {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err == nil {
		err = os.WriteFile(prefix+".key", []byte(base64.StdEncoding.EncodeToString(priv)+"\n"), 0o600)
	}
	if err == nil {
		err = os.WriteFile(prefix+".pub", []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "keepup2date:", err)
		return 2
	}
	fmt.Fprintf(stdout, "wrote %s.key (keep it private) and %s.pub (PublicKeyFile)\n", prefix, prefix)
	return 0
}

func signDir(keyFile, version, dir string, stdout, stderr io.Writer) int {
	key, err := updater.ReadPrivateKey(keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "keepup2date:", err)
		return 2
	}
	m, err := updater.Manifest(dir, version, time.Now().UTC().Format(time.RFC3339))
	if err == nil {
		err = os.WriteFile(dir+"/manifest", m, 0o644)
	}
	if err == nil {
		err = os.WriteFile(dir+"/manifest.sig", updater.Sign(key, m), 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "keepup2date:", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: manifest and manifest.sig written, version %s\n", dir, version)
	return 0
}
