package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"ave/internal/testkit"
	"ave/pkg/unpack"
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

func mailWithZip(t testing.TB) []byte {
	z := testkit.Zip(t, testkit.File{Name: "a.txt", Data: []byte("just text\n")}, testkit.File{Name: "b.exe", Data: fakePE()})
	return testkit.Mail("docs.zip", z)
}

func scanReq(t *testing.T, e *Engine, req Request) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := e.Scan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestListObjectsListsEveryObjectInScanOrder(t *testing.T) {
	e := newEngine(t, nil, Options{})
	mail := mailWithZip(t)
	r := scanReq(t, e, Request{Name: "m.eml", Data: mail, ListObjects: true})
	if r.Status != verdict.Clean || r.ObjectsTruncated {
		t.Fatalf("got %+v", r.Result)
	}
	if int64(len(r.ListedObjects)) != r.Objects {
		t.Fatalf("listed %d objects, scanned %d: %+v", len(r.ListedObjects), r.Objects, r.ListedObjects)
	}
	want := map[string]verdict.Object{
		"m.eml":                {Path: "m.eml", Type: "mail", Depth: 0, Size: int64(len(mail))},
		"m.eml/docs.zip/a.txt": {Path: "m.eml/docs.zip/a.txt", Type: "text", Depth: 2, Size: 10},
		"m.eml/docs.zip/b.exe": {Path: "m.eml/docs.zip/b.exe", Type: "pe", Depth: 2, Size: 0x200},
	}
	idx := map[string]int{}
	for i, o := range r.ListedObjects {
		idx[o.Path] = i
		if w, ok := want[o.Path]; ok && o != w {
			t.Errorf("object %d: got %+v, want %+v", i, o, w)
		}
	}
	for p := range want {
		if _, ok := idx[p]; !ok {
			t.Errorf("%s not listed: %+v", p, r.ListedObjects)
		}
	}
	zi, ok := idx["m.eml/docs.zip"]
	if !ok || r.ListedObjects[zi].Type != "zip" || r.ListedObjects[zi].Depth != 1 {
		t.Fatalf("zip not listed as zip at depth 1: %+v", r.ListedObjects)
	}
	if r.ListedObjects[0].Path != "m.eml" || !(zi < idx["m.eml/docs.zip/a.txt"] && idx["m.eml/docs.zip/a.txt"] < idx["m.eml/docs.zip/b.exe"]) {
		t.Fatalf("not in scan order: %+v", r.ListedObjects)
	}
}

func TestMembersRefusedBeforeReadingAreListedWithoutType(t *testing.T) {
	e := newEngine(t, nil, Options{CacheEntries: -1, Limits: unpack.Limits{MaxObjectSize: 4096}})
	mail := testkit.Mail("enc.zip", testkit.EncryptedZip(t, "evil.exe", fakePE()))
	r := scanReq(t, e, Request{Name: "m.eml", Data: mail, ListObjects: true})
	want := []verdict.Object{
		{Path: "m.eml", Type: "mail", Depth: 0, Size: int64(len(mail))},
		{Path: "m.eml/1", Type: "text", Depth: 1, Size: 6},
		{Path: "m.eml/enc.zip", Type: "zip", Depth: 1, Size: -1},
		{Path: "m.eml/enc.zip/evil.exe", Type: "", Depth: 2, Size: 0x200},
	}
	if r.Status != verdict.Protected || len(r.ListedObjects) != len(want) {
		t.Fatalf("got %+v", r.Result)
	}
	for i, w := range want {
		if w.Size < 0 {
			w.Size = r.ListedObjects[i].Size
		}
		if r.ListedObjects[i] != w {
			t.Errorf("object %d: got %+v, want %+v", i, r.ListedObjects[i], w)
		}
	}

	// A member over MaxObjectSize between two that are read keeps its place.
	big := make([]byte, 8192)
	z := testkit.Zip(t, testkit.File{Name: "a.txt", Data: []byte("a\n")}, testkit.File{Name: "big.bin", Data: big}, testkit.File{Name: "c.exe", Data: fakePE()})
	r = scanReq(t, e, Request{Name: "z.zip", Data: z, ListObjects: true})
	got := ""
	for _, o := range r.ListedObjects {
		got += fmt.Sprintf("%s:%s:%d:%d ", o.Path, o.Type, o.Depth, o.Size)
	}
	if got != fmt.Sprintf("z.zip:zip:0:%d z.zip/a.txt:text:1:2 z.zip/big.bin::1:8192 z.zip/c.exe:pe:1:512 ", len(z)) || r.Status != verdict.Unchecked {
		t.Fatalf("got %s (%v)", got, r.Status)
	}
}

func TestListObjectsOffListsNothing(t *testing.T) {
	e := newEngine(t, nil, Options{CacheEntries: -1})
	r := scanReq(t, e, Request{Name: "m.eml", Data: mailWithZip(t)})
	if r.ListedObjects != nil || r.ObjectsTruncated || r.Objects < 4 {
		t.Fatalf("got %+v", r.Result)
	}
}

func TestCacheServesListsOnlyWhenItHasThem(t *testing.T) {
	e := newEngine(t, nil, Options{})
	mail := mailWithZip(t)
	// Unlisted entry first: a list request must not be served from it.
	r := scanReq(t, e, Request{Name: "m.eml", Data: mail})
	if r.Cached || r.ListedObjects != nil {
		t.Fatalf("first scan: %+v", r)
	}
	r = scanReq(t, e, Request{Name: "m.eml", Data: mail, ListObjects: true})
	if r.Cached || int64(len(r.ListedObjects)) != r.Objects {
		t.Fatalf("list request after an unlisted entry: cached %v, %d listed", r.Cached, len(r.ListedObjects))
	}
	first := r.ListedObjects
	// Now the entry carries the list: both kinds of request hit it.
	r = scanReq(t, e, Request{Name: "m.eml", Data: mail, ListObjects: true})
	if !r.Cached || fmt.Sprint(r.ListedObjects) != fmt.Sprint(first) {
		t.Fatalf("cached list request: cached %v, %+v", r.Cached, r.ListedObjects)
	}
	r = scanReq(t, e, Request{Name: "m.eml", Data: mail})
	if !r.Cached || r.ListedObjects != nil || r.ObjectsTruncated {
		t.Fatalf("cached plain request must not carry the list: %+v", r)
	}
	// A plain scan does not replace the listed entry.
	r = scanReq(t, e, Request{Name: "m.eml", Data: mail, ListObjects: true})
	if !r.Cached || len(r.ListedObjects) != len(first) {
		t.Fatalf("listed entry lost: %+v", r)
	}
}

func TestListedObjectsAreBounded(t *testing.T) {
	e := newEngine(t, nil, Options{MaxListedObjects: 5, CacheEntries: -1})
	files := make([]testkit.File, 20)
	for i := range files {
		files[i] = testkit.File{Name: fmt.Sprintf("f%02d.txt", i), Data: []byte("x")}
	}
	r := scanReq(t, e, Request{Name: "z.zip", Data: testkit.Zip(t, files...), ListObjects: true})
	if len(r.ListedObjects) != 5 || !r.ObjectsTruncated || r.Objects != 21 {
		t.Fatalf("listed %d truncated %v objects %d", len(r.ListedObjects), r.ObjectsTruncated, r.Objects)
	}
	if r.ListedObjects[4].Path != "z.zip/f03.txt" {
		t.Fatalf("last listed: %+v", r.ListedObjects[4])
	}
}

func TestCacheBoundsTheMemoryOfLists(t *testing.T) {
	c := newCache(1000)
	big := make([]verdict.Object, 20000)
	for i := range big {
		big[i] = verdict.Object{Path: fmt.Sprintf("%0200d", i)}
	}
	k := func(n int) cacheKey { return cacheKey{name: fmt.Sprint(n)} }
	for i := 0; i < 40; i++ {
		c.put(k(i), verdict.Result{ListedObjects: big}, true)
	}
	if c.listBytes > maxCacheListBytes {
		t.Fatalf("lists hold %d bytes", c.listBytes)
	}
	if _, ok := c.get(k(0), true); ok {
		t.Fatal("the oldest listed entry should be gone")
	}
	if _, ok := c.get(k(39), true); !ok {
		t.Fatal("the newest listed entry should be kept")
	}
	// One list larger than a quarter of the budget keeps only its verdict.
	huge := make([]verdict.Object, 100000)
	for i := range huge {
		huge[i] = verdict.Object{Path: fmt.Sprintf("%0200d", i)}
	}
	c.put(k(100), verdict.Result{Objects: 7, ListedObjects: huge}, true)
	if _, ok := c.get(k(100), true); ok {
		t.Fatal("a huge list must not be cached")
	}
	if r, ok := c.get(k(100), false); !ok || r.Objects != 7 || r.ListedObjects != nil {
		t.Fatalf("its verdict must be: %+v %v", r, ok)
	}
}
