package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to every loader: an error or a
// configuration, never a panic, and a mail policy always ends with its
// default group.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile("../../etc/ave.conf"); err == nil {
		f.Add(b)
	}
	for _, ex := range []string{"5.2.1-clean-and-cured.conf", "5.2.2-deliver-all-to-urgent.conf", "5.2.5-filter-attachments.conf"} {
		if b, err := os.ReadFile(filepath.Join("../../etc/examples", ex)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[smtpscan.group:a]\nRecipients=(\nSenders=a|b\nSenders=^$\n"))
	f.Add([]byte("[scanner.object]\nOnInfected=exec /bin/echo %FULLPATH%; remove\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fh, err := os.CreateTemp(dir, "fuzz*.conf") // workers are processes sharing dir
		if err != nil {
			t.Fatal(err)
		}
		name := fh.Name()
		defer os.Remove(name)
		_, err = fh.Write(data)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		LoadAVEServer(name)
		LoadScanner(name)
		LoadSMTPScan(name)
		p, err := LoadMailPolicy(name)
		if err == nil && (len(p.Groups) == 0 || p.Groups[len(p.Groups)-1].Name != DefaultGroupName) {
			t.Fatalf("policy without its default group last: %+v", p.Groups)
		}
	})
}
