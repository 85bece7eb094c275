package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
	"time"

	"ave/internal/fmtwrite"
	"ave/pkg/verdict"
)

// The compound file and VBA writers live in internal/fmtwrite; these
// wrappers fail the test on a writer error.

// cfbStream is one stream of a test compound file, named by its path
// ("Macros/VBA/dir"); a local type so that the tests' unkeyed literals
// pass vet.
type cfbStream struct {
	path string
	data []byte
}

// makeCFB writes a version 3 compound file of the streams (fmtwrite.CFB).
func makeCFB(t testing.TB, streams ...cfbStream) []byte {
	t.Helper()
	fs := make([]fmtwrite.CFBStream, len(streams))
	for i, s := range streams {
		fs[i] = fmtwrite.CFBStream{Path: s.path, Data: s.data}
	}
	b, err := fmtwrite.CFB(fs...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// macroDoc is a Word-like document with a VBA project whose Module1 holds
// body (fmtwrite.MacroDoc).
func macroDoc(t testing.TB, body string, withDir bool) []byte {
	t.Helper()
	b, err := fmtwrite.MacroDoc(body, withDir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOVBARoundTrip(t *testing.T) {
	for _, src := range [][]byte{
		fmtwrite.VBASource("Sub AutoOpen()\r\nEnd Sub\r\n"),
		bytes.Repeat([]byte("abcabcabcabd"), 2000),
		randomBytes(t, 9000),
		[]byte("#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"),
	} {
		got, _ := io.ReadAll(&vbaReader{src: fmtwrite.OVBACompress(src), pos: 1})
		if !bytes.Equal(got, src) {
			t.Fatalf("round trip of %d bytes gave %d bytes", len(src), len(got))
		}
	}
}

func TestOLE2YieldsEveryStream(t *testing.T) {
	doc := makeCFB(t,
		cfbStream{"WordDocument", bytes.Repeat([]byte("x"), 5000)},
		cfbStream{"1Table", []byte("table")},
		cfbStream{"ObjectPool/_1234/\x01Ole10Native", eicar},
		cfbStream{"Big/payload.bin", append(bytes.Repeat([]byte{0}, 6000), eicar...)})
	res := walk("a.doc", doc, Limits{})
	wantDetection(t, res, "a.doc/ObjectPool/_1234/Ole10Native", verdict.Infected, "")
	wantDetection(t, res, "a.doc/Big/payload.bin", verdict.Infected, "")
	if res.Objects != 5 {
		t.Errorf("want 5 objects:\n%s", dump(res))
	}
}

func TestOLE2PackagedFileIsYieldedByName(t *testing.T) {
	pkg := olePackageData("invoice.exe", eicar)
	native := append(binary.LittleEndian.AppendUint32(nil, uint32(len(pkg))), pkg...)
	doc := makeCFB(t, cfbStream{"WordDocument", []byte("text")}, cfbStream{"ObjectPool/_1/\x01Ole10Native", native})
	var exact bool
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Name == "ObjectPool/_1/Ole10Native/invoice.exe" {
			exact = bytes.Equal(o.Data, eicar)
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(context.Background(), "p.doc", doc, "", false)
	wantDetection(t, res, "p.doc/ObjectPool/_1/Ole10Native/invoice.exe", verdict.Infected, "")
	if !exact {
		t.Errorf("packaged file not yielded byte for byte:\n%s", dump(res))
	}
}

func TestOLE2VBASourceIsExposed(t *testing.T) {
	body := "Sub AutoOpen()\r\n  s = \"" + string(eicar) + "\"\r\nEnd Sub\r\n"
	for _, withDir := range []bool{true, false} {
		doc := macroDoc(t, body, withDir)
		if bytes.Contains(doc, eicar) {
			t.Fatal("the compressed source shows EICAR in the clear")
		}
		var src []byte
		w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			if o.Name == "Macros/VBA/Module1.vba" {
				src = append([]byte(nil), o.Data...)
			}
			return inspectEICAR(ctx, o)
		}}
		res := w.Walk(context.Background(), "m.doc", doc, "", false)
		d := wantDetection(t, res, "m.doc/Macros/VBA/Module1.vba", verdict.Infected, "")
		if d.Depth != 1 || !bytes.Equal(src, fmtwrite.VBASource(body)) {
			t.Fatalf("dir %v: depth %d source %q", withDir, d.Depth, src)
		}
		if len(res.Detections) != 1 {
			t.Errorf("dir %v: want one detection:\n%s", withDir, dump(res))
		}
	}
}

func TestOLE2TruncatedIsCorrupted(t *testing.T) {
	doc := makeCFB(t, cfbStream{"a", eicar}, cfbStream{"b", bytes.Repeat([]byte("y"), 8000)})
	res := walk("t.doc", doc[:600], Limits{})
	wantDetection(t, res, "t.doc", verdict.Corrupted, "ole2")
}

func TestOLE2CleanIsClean(t *testing.T) {
	res := walk("c.doc", macroDoc(t, "Sub Hello()\r\nEnd Sub\r\n", true), Limits{})
	if res.Status != verdict.Clean || res.Objects != 8 {
		t.Fatalf("want 8 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkOLE2(f *testing.F) {
	f.Add(macroDoc(f, "Sub Hello()\r\nEnd Sub\r\n", true))
	f.Add(macroDoc(f, "Sub Hello()\r\nEnd Sub\r\n", false))
	f.Add(makeCFB(f, cfbStream{"a/b/c", []byte("harmless")}, cfbStream{"big", make([]byte, 5000)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.doc", data)
	})
}

// fuzzWalkWatched is fuzzWalk with a watchdog: an input that keeps a
// decoder busy for 15 s (past fuzzWalk's own 10 s deadline, so a loop that
// ignores the context) panics with every goroutine's stack, which makes
// the fuzzer keep the input as a failure instead of stalling.
func fuzzWalkWatched(t *testing.T, name string, data []byte) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			buf := make([]byte, 1<<20)
			panic("decoder stuck:\n" + string(buf[:runtime.Stack(buf, true)]))
		}
	}()
	fuzzWalk(t, name, data)
}
