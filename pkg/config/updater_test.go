package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadUpdater(t *testing.T) {
	if c, err := LoadUpdater(""); err != nil || !reflect.DeepEqual(c, DefaultUpdater()) {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	p := writeConf(t, `
[updater.path]
BasesPath = /var/lib/ave/bases
[updater.options]
UpdateServerUrl = https://mirror1.example/ave/
UpdateServerUrl = /srv/ave-mirror
UseProxy = yes
ProxyAddress = http://proxy.example:3128
PublicKeyFile = /etc/ave/updates.pub
ConnectTimeout = 10
UpdateTimeout = 5m
MaxFileSize = 64M
ReloadServer = no
PostUpdateCmd = /usr/local/bin/notify 'db updated'
`)
	c, err := LoadUpdater(p)
	want := Updater{BasesPath: "/var/lib/ave/bases", UpdateServerURLs: []string{"https://mirror1.example/ave", "/srv/ave-mirror"},
		UseProxy: true, ProxyAddress: "http://proxy.example:3128", PublicKeyFile: "/etc/ave/updates.pub",
		ConnectTimeout: 10 * time.Second, UpdateTimeout: 5 * time.Minute, MaxFileSize: 64 << 20, PostUpdateCmd: []string{"/usr/local/bin/notify", "db updated"}}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, %v\nwant %+v", c, err, want)
	}
	p = writeConf(t, `
[updater.options]
UpdateServerUrl = ftp://old.example/
UpdateServerUrl = relative/dir
ProxyAddress = proxy:3128
PublicKeyFile = updates.pub
UseProxy = maybe
`)
	_, err = LoadUpdater(p)
	for _, w := range []string{"UpdateServerUrl=ftp://old.example/: expected http", "UpdateServerUrl=relative/dir: expected",
		"ProxyAddress=proxy:3128: expected http://host:port", "PublicKeyFile=updates.pub: expected an absolute path", "UseProxy=maybe"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	p = writeConf(t, "[updater.options]\nUseProxy = yes\n")
	if _, err := LoadUpdater(p); err == nil || !strings.Contains(err.Error(), "ProxyAddress is empty") {
		t.Fatalf("UseProxy without ProxyAddress: %v", err)
	}
}
