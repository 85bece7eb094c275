package scanservice_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"ave/internal/testkit"
	"ave/pkg/engine"
	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// fakePE is the start of a PE file: a DOS header pointing at "PE\0\0".
func fakePE() []byte {
	b := make([]byte, 0x200)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	return b
}

// mailWithZip is a message whose attachment docs.zip holds a.txt and
// b.exe (an executable by content).
func mailWithZip(t *testing.T) []byte {
	z := testkit.Zip(t, testkit.File{Name: "a.txt", Data: []byte("just text\n")}, testkit.File{Name: "b.exe", Data: fakePE()})
	return testkit.Mail("docs.zip", z)
}

func wantMailObjects(mailSize int) []verdict.Object {
	return []verdict.Object{
		{Path: "m.eml", Type: "mail", Depth: 0, Size: int64(mailSize)},
		{Path: "m.eml/1", Type: "text", Depth: 1, Size: 6},
		{Path: "m.eml/docs.zip", Type: "zip", Depth: 1, Size: -1}, // size checked apart
		{Path: "m.eml/docs.zip/a.txt", Type: "text", Depth: 2, Size: 10},
		{Path: "m.eml/docs.zip/b.exe", Type: "pe", Depth: 2, Size: 0x200},
	}
}

func checkObjects(t *testing.T, got, want []verdict.Object) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("listed %d objects, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if w.Size < 0 {
			if g.Size <= 0 {
				t.Errorf("object %d: size %d", i, g.Size)
			}
			w.Size = g.Size
		}
		if g != w {
			t.Errorf("object %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestListObjectsOverTheSocket(t *testing.T) {
	h := start(t, engine.Options{})
	mail := mailWithZip(t)
	want := wantMailObjects(len(mail))

	// Without the option: no list, and nothing about one.
	res, err := h.client.ScanBytes(ctx(t), "m.eml", "", mail)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != verdict.Clean || res.ListedObjects != nil || res.ObjectsTruncated || res.Objects != int64(len(want)) {
		t.Fatalf("plain scan: %+v", res)
	}

	// With it: every object, in scan order. The plain scan's cache entry
	// has no list, so this one is scanned anew.
	opt := scanclient.ScanOptions{ListObjects: true}
	res, err = h.client.ScanBytesWithOptions(ctx(t), "m.eml", mail, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached || res.Status != verdict.Clean || res.ObjectsTruncated {
		t.Fatalf("list scan: %+v", res)
	}
	checkObjects(t, res.ListedObjects, want)

	// Again: served from the cache, with the list.
	res, err = h.client.ScanBytesWithOptions(ctx(t), "m.eml", mail, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cached {
		t.Fatalf("second list scan not cached: %+v", res)
	}
	checkObjects(t, res.ListedObjects, want)

	// A plain request served from the listed entry carries no list.
	res, err = h.client.ScanBytes(ctx(t), "m.eml", "", mail)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cached || res.ListedObjects != nil {
		t.Fatalf("cached plain scan: %+v", res)
	}
}

func TestListObjectsFromACachedFirstListScan(t *testing.T) {
	h := start(t, engine.Options{})
	mail := mailWithZip(t)
	opt := scanclient.ScanOptions{ListObjects: true}
	for i := 0; i < 2; i++ {
		res, err := h.client.ScanWithOptions(ctx(t), "m.eml", 0, bytesReader(mail), opt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Cached != (i == 1) {
			t.Fatalf("scan %d: cached %v", i, res.Cached)
		}
		checkObjects(t, res.ListedObjects, wantMailObjects(len(mail)))
	}
}

func TestScanPathListsObjects(t *testing.T) {
	h := start(t, engine.Options{})
	p := filepath.Join(t.TempDir(), "m.eml")
	mail := mailWithZip(t)
	if err := os.WriteFile(p, mail, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := h.client.ScanPathWithOptions(ctx(t), p, scanclient.ScanOptions{ListObjects: true})
	if err != nil {
		t.Fatal(err)
	}
	want := wantMailObjects(len(mail))
	for i := range want {
		want[i].Path = p + want[i].Path[len("m.eml"):]
	}
	checkObjects(t, res.ListedObjects, want)
	res, err = h.client.ScanPath(ctx(t), p, "")
	if err != nil || res.ListedObjects != nil {
		t.Fatalf("plain ScanPath: %v %+v", err, res)
	}
}

func TestListedObjectsAreTruncatedAtTheBound(t *testing.T) {
	h := start(t, engine.Options{})
	files := make([]testkit.File, 20000)
	for i := range files {
		files[i] = testkit.File{Name: fmt.Sprintf("f%05d.txt", i), Data: []byte("x")}
	}
	z := testkit.Zip(t, files...)
	res, err := h.client.ScanBytesWithOptions(ctx(t), "big.zip", z, scanclient.ScanOptions{ListObjects: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ListedObjects) != engine.DefaultMaxListedObjects || !res.ObjectsTruncated {
		t.Fatalf("listed %d, truncated %v (objects %d)", len(res.ListedObjects), res.ObjectsTruncated, res.Objects)
	}
	first, last := res.ListedObjects[0], res.ListedObjects[len(res.ListedObjects)-1]
	if first.Path != "big.zip" || first.Type != "zip" || last.Path != "big.zip/f09998.txt" || last.Depth != 1 {
		t.Fatalf("first %+v, last %+v", first, last)
	}
	// The walk itself is bounded by MaxFiles, not by the list.
	if res.Objects != 10001 || res.Status != verdict.Unchecked {
		t.Fatalf("objects %d status %v", res.Objects, res.Status)
	}
	// A cached answer keeps the cut list and the flag.
	res, err = h.client.ScanBytesWithOptions(ctx(t), "big.zip", z, scanclient.ScanOptions{ListObjects: true})
	if err != nil || !res.Cached || len(res.ListedObjects) != engine.DefaultMaxListedObjects || !res.ObjectsTruncated {
		t.Fatalf("cached: %v cached=%v listed=%d truncated=%v", err, res.Cached, len(res.ListedObjects), res.ObjectsTruncated)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestEncryptedMemberIsListedByName(t *testing.T) {
	h := start(t, engine.Options{})
	mail := testkit.Mail("enc.zip", testkit.EncryptedZip(t, "evil.exe", fakePE()))
	res, err := h.client.ScanBytesWithOptions(ctx(t), "m.eml", mail, scanclient.ScanOptions{ListObjects: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != verdict.Protected || len(res.ListedObjects) != 4 {
		t.Fatalf("got %+v", res.Result)
	}
	last := res.ListedObjects[3]
	if last != (verdict.Object{Path: "m.eml/enc.zip/evil.exe", Depth: 2, Size: 0x200}) {
		t.Fatalf("encrypted member: %+v", last)
	}
}
