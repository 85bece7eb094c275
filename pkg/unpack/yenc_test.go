package unpack

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// yencGo encodes one file (or one part of it when part > 0).
func yencGo(name string, data []byte, part, total int, begin, size int) string {
	var b strings.Builder
	if part > 0 {
		fmt.Fprintf(&b, "=ybegin part=%d total=%d line=128 size=%d name=%s\n=ypart begin=%d end=%d\n", part, total, size, name, begin+1, begin+len(data))
	} else {
		fmt.Fprintf(&b, "=ybegin line=128 size=%d name=%s\n", len(data), name)
	}
	col := 0
	for _, c := range data {
		e := c + 42
		switch e {
		case 0, '\n', '\r', '=':
			b.WriteByte('=')
			e += 64
		}
		b.WriteByte(e)
		if col++; col >= 128 {
			b.WriteByte('\n')
			col = 0
		}
	}
	if part > 0 {
		fmt.Fprintf(&b, "\n=yend size=%d part=%d pcrc32=%08x\n", len(data), part, crc32.ChecksumIEEE(data))
	} else {
		fmt.Fprintf(&b, "\n=yend size=%d crc32=%08x\n", len(data), crc32.ChecksumIEEE(data))
	}
	return b.String()
}

func TestYEncFindsEICARMadeByUUEnview(t *testing.T) {
	enc := toolEncode(t, "eicar.com", eicar, "uuenview", "-y", "eicar.com")
	res := walk("post.txt", append([]byte("Subject-less article body\n\n"), enc...), Limits{})
	wantDetection(t, res, "post.txt/eicar.com", verdict.Infected, "")
	if len(res.Detections) != 1 {
		t.Errorf("want one detection:\n%s", dump(res))
	}
}

func TestYEncJoinsPartsAndChecksCRC(t *testing.T) {
	payload := append(bytes.Repeat([]byte{0, '=', '\n', 0xd6}, 50), eicar...)
	half := len(payload) / 2
	text := yencGo("big name.exe", payload[:half], 1, 2, 0, len(payload)) +
		"noise between parts\n" + yencGo("big name.exe", payload[half:], 2, 2, half, len(payload))
	var got []Member
	err := walkYEnc(context.Background(), &Container{Data: []byte(text)}, func(m Member) error {
		got = append(got, m)
		return nil
	})
	if err != nil || len(got) != 1 || got[0].Name != "big name.exe" || !bytes.Equal(got[0].Data, payload) || got[0].Anomaly != "" {
		t.Fatalf("err %v members %+v", err, got)
	}
	res := walk("p.txt", []byte(text), Limits{})
	wantDetection(t, res, "p.txt/big name.exe", verdict.Infected, "")
}

func TestYEncBadCRCIsCorruptedButScanned(t *testing.T) {
	text := yencGo("e.com", eicar, 0, 0, 0, 0)
	text = text[:strings.Index(text, "crc32=")] + "crc32=deadbeef\n"
	res := walk("y.txt", []byte(text), Limits{})
	wantDetection(t, res, "y.txt/e.com", verdict.Infected, "")
	wantDetection(t, res, "y.txt/e.com", verdict.Corrupted, "CRC-32 mismatch")
}

func TestYEncTruncatedIsCorrupted(t *testing.T) {
	text := yencGo("e.com", eicar, 0, 0, 0, 0)
	text = text[:strings.Index(text, "=yend")]
	res := walk("y.txt", []byte(text), Limits{})
	wantDetection(t, res, "y.txt/e.com", verdict.Infected, "")
	wantDetection(t, res, "y.txt", verdict.Corrupted, "no =yend")
}

func TestYEncCleanIsClean(t *testing.T) {
	res := walk("y.txt", []byte(yencGo("a.txt", []byte("clean"), 0, 0, 0, 0)), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkYEnc(f *testing.F) {
	f.Add([]byte(yencGo("a.txt", []byte("harmless"), 0, 0, 0, 0)))
	f.Add([]byte(yencGo("a", []byte("one"), 1, 2, 0, 6) + yencGo("a", []byte("two"), 2, 2, 3, 6)))
	f.Add([]byte("=ybegin name=x\n=ypart begin=1\nabc="))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.yenc", data)
	})
}

// TestYEncDecodedBinaryIsTypedByContent: the decoded file of a yEnc text is
// typed from its own bytes (a PE, a zip), not as the text's "binary", and
// a zip inside is opened.
func TestYEncDecodedBinaryIsTypedByContent(t *testing.T) {
	pe := make([]byte, 512)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	copy(pe[0x200-len(eicar):], eicar)
	zipped := makeZip(t, zipEntry{"inner.com", eicar, zip.Deflate})
	text := "Subject-less article\n\n" + yencGo("prog.exe", pe, 0, 0, 0, 0) + yencGo("pack.zip", zipped, 0, 0, 0, 0)
	typed := map[string]filetype.Type{}
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		typed[o.Path] = o.Type
		return inspectEICAR(ctx, o)
	}}
	// Without a hint, as the engine sees it, and with the hint a MIME
	// part or the caller may give.
	for _, hint := range []filetype.Type{"", filetype.YEnc} {
		clear(typed)
		res := w.Walk(context.Background(), "post.txt", []byte(text), hint, false)
		if typed["post.txt"] != filetype.YEnc {
			t.Errorf("hint %q: the text is typed %q, not yenc", hint, typed["post.txt"])
		}
		if typed["post.txt/prog.exe"] != filetype.PE || typed["post.txt/pack.zip"] != filetype.Zip {
			t.Errorf("hint %q: decoded members typed %v", hint, typed)
		}
		wantDetection(t, res, "post.txt/prog.exe", verdict.Infected, "")
		wantDetection(t, res, "post.txt/pack.zip/inner.com", verdict.Infected, "")
	}
}

// TestYEncOfHighEntropyDataWithoutHint: yEnc of random-looking data is
// 8-bit, not text; it is typed yenc by its "=ybegin" line all the same, so
// it is decoded with no hint and the decoded zip is typed by its content.
func TestYEncOfHighEntropyDataWithoutHint(t *testing.T) {
	zipped := makeZip(t, zipEntry{"noise.bin", randomBytes(t, 64<<10), zip.Store}, zipEntry{"inner.com", eicar, zip.Store})
	for name, text := range map[string][]byte{
		"at the start": []byte(yencGo("pack.zip", zipped, 0, 0, 0, 0)),
		"after prose":  []byte("Hi,\n\nhere it is.\n\n" + yencGo("pack.zip", zipped, 0, 0, 0, 0)),
	} {
		typed := map[string]filetype.Type{}
		w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			typed[o.Path] = o.Type
			return inspectEICAR(ctx, o)
		}}
		res := w.Walk(context.Background(), "post", text, "", false)
		if typed["post"] != filetype.YEnc || typed["post/pack.zip"] != filetype.Zip {
			t.Errorf("%s: typed %v", name, typed)
		}
		wantDetection(t, res, "post/pack.zip/inner.com", verdict.Infected, "")
	}
}

func TestYEncOfBinaryMadeByUUEnviewIsDecodedWithoutHint(t *testing.T) {
	// EICAR after random bytes: its encoding is 8-bit and the whole is not text.
	data := append(randomBytes(t, 6000), eicar...)
	enc := toolEncode(t, "bin.dat", data, "uuenview", "-y", "bin.dat")
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Depth == 0 && o.Type != filetype.YEnc {
			t.Errorf("uuenview -y output typed %q", o.Type)
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(context.Background(), "bin.ync", enc, "", false)
	wantDetection(t, res, "bin.ync/bin.dat", verdict.Infected, "")
	wantNoDetection(t, res, verdict.Corrupted)

	// The same block after binary bytes is part of a binary: not decoded.
	res = walk("x.bin", append(append(randomBytes(t, 3000), '\n'), enc...), Limits{})
	if res.Status != verdict.Clean || res.Objects != 1 {
		t.Errorf("a binary holding a yEnc block was decoded:\n%s", dump(res))
	}
}
