package config

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Updater is keepup2date's configuration: [updater.path] and
// [updater.options].
type Updater struct {
	// [updater.path]
	BasesPath  string // the DB directory aveserver loads ("" = [aveserver.path] BasesPath)
	BackUpPath string // where the replaced DB is kept for a rollback ("" = BasesPath + ".prev")

	// [updater.options]
	UpdateServerURLs []string      // mirrors, tried in order: http(s)://... or an absolute directory
	UseProxy         bool          // fetch http(s) sources through ProxyAddress
	ProxyAddress     string        // http://host:port
	PublicKeyFile    string        // ed25519 public key that signs manifest.sig ("" = none)
	AllowUnsigned    bool          // accept a manifest without a valid signature (no key, or no .sig)
	ConnectTimeout   time.Duration // to connect to a mirror and get its answer
	UpdateTimeout    time.Duration // the whole run (a mirror that trickles cannot hold it forever)
	MaxFileSize      int64         // largest file accepted from a source
	ReloadServer     bool          // ask aveserver to reload after an update
	PostUpdateCmd    []string      // run after a successful update (split like shell words, no shell)
}

// DefaultUpdater is the configuration used with no file.
func DefaultUpdater() Updater {
	return Updater{ConnectTimeout: 30 * time.Second, UpdateTimeout: 30 * time.Minute, MaxFileSize: 512 << 20, ReloadServer: true}
}

// LoadUpdater reads [updater.path] and [updater.options] of file over the
// defaults. An empty file name gives the defaults.
func LoadUpdater(file string) (Updater, error) {
	c := DefaultUpdater()
	s := schema{prefix: "updater.", repeatable: map[string]bool{"updateserverurl": true}, owned: map[string]section{
		"updater.path": {
			"basespath":  optAbsPath(&c.BasesPath),
			"backuppath": optAbsPath(&c.BackUpPath),
		},
		"updater.options": {
			"updateserverurl": func(v string) error {
				if err := checkSource(v); err != nil {
					return err
				}
				c.UpdateServerURLs = append(c.UpdateServerURLs, strings.TrimRight(v, "/"))
				return nil
			},
			"useproxy": boolean(&c.UseProxy),
			"proxyaddress": func(v string) error {
				if v == "" {
					c.ProxyAddress = ""
					return nil
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("expected http://host:port")
				}
				c.ProxyAddress = v
				return nil
			},
			"publickeyfile":  optAbsPath(&c.PublicKeyFile),
			"allowunsigned":  boolean(&c.AllowUnsigned),
			"connecttimeout": duration(&c.ConnectTimeout, time.Second),
			"updatetimeout":  duration(&c.UpdateTimeout, time.Second),
			"maxfilesize":    size(&c.MaxFileSize, 1024),
			"reloadserver":   boolean(&c.ReloadServer),
			"postupdatecmd": func(v string) error {
				if v == "" {
					c.PostUpdateCmd = nil
					return nil
				}
				chains, err := splitChain(v)
				if err != nil {
					return err
				}
				if len(chains) != 1 || len(chains[0]) == 0 {
					return errors.New(`expected one command (quote a ";")`)
				}
				c.PostUpdateCmd = chains[0]
				return nil
			},
		},
	}}
	if err := s.apply(file); err != nil {
		return c, err
	}
	if c.UseProxy && c.ProxyAddress == "" {
		return c, Errors{errors.New(file + ": [updater.options] UseProxy=yes: ProxyAddress is empty")}
	}
	return c, nil
}

// checkSource accepts an http(s) URL with a host, or an absolute path.
func checkSource(v string) error {
	if filepath.IsAbs(v) {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("expected http://host/path, https://host/path or an absolute directory")
	}
	return nil
}
