package unpack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// runTool runs a Debian tool in dir and returns its standard output,
// skipping the test when the tool is not installed.
func runTool(t *testing.T, dir, tool string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed", tool)
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, stderr.String())
	}
	return out
}

// toolEncode writes data to dir/name and runs tool on it.
func toolEncode(t *testing.T, name string, data []byte, tool string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, name), data)
	return runTool(t, dir, tool, args...)
}

// uuencodeGo is a small uuencoder for fixtures the tests need to shape.
func uuencodeGo(name string, data []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + 0x20
	}
	for len(data) > 0 {
		n := min(45, len(data))
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var g [3]byte
			copy(g[:], line[i:min(i+3, n)])
			b.WriteByte(enc(g[0] >> 2))
			b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 0x3f))
			b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 0x3f))
			b.WriteByte(enc(g[2] & 0x3f))
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

func TestUUEFindsEICARMadeBySharutils(t *testing.T) {
	enc := toolEncode(t, "eicar.com", eicar, "uuencode", "eicar.com", "eicar.com")
	body := "Hello,\nthe file you asked for:\n\n" + string(enc) + "\nRegards\n"
	res := walk("body.txt", []byte(body), Limits{})
	d := wantDetection(t, res, "body.txt/eicar.com", verdict.Infected, "")
	if d.Type != "text" || d.Depth != 1 {
		t.Errorf("detection %+v", d)
	}
	if res.Status != verdict.Infected || len(res.Detections) != 1 {
		t.Errorf("want exactly one detection:\n%s", dump(res))
	}
}

func TestUUEYieldsEveryFile(t *testing.T) {
	body := "prose\n" + uuencodeGo("a.txt", []byte("alpha")) + "between\n" +
		uuencodeGo("dir/b.com", eicar) + uuencodeGo("c.bin", bytes.Repeat([]byte{0, 1, 2}, 100))
	var names []string
	err := walkUUE(context.Background(), &Container{Data: []byte(body)}, func(m Member) error {
		names = append(names, m.Name)
		if m.Name == "a.txt" && string(m.Data) != "alpha" {
			t.Errorf("a.txt = %q", m.Data)
		}
		if m.Name == "c.bin" && !bytes.Equal(m.Data, bytes.Repeat([]byte{0, 1, 2}, 100)) {
			t.Errorf("c.bin decoded wrong")
		}
		return nil
	})
	if err != nil || strings.Join(names, ",") != "a.txt,dir/b.com,c.bin" {
		t.Fatalf("names %v err %v", names, err)
	}
	res := walk("m.txt", []byte(body), Limits{})
	wantDetection(t, res, "m.txt/dir/b.com", verdict.Infected, "")
}

func TestUUEStrippedTrailingBlanksStillDecode(t *testing.T) {
	enc := uuencodeGo("e.com", eicar)
	var lines []string
	for _, l := range strings.Split(enc, "\n") {
		lines = append(lines, strings.TrimRight(l, " "))
	}
	res := walk("t.txt", []byte(strings.Join(lines, "\r\n")), Limits{})
	wantDetection(t, res, "t.txt/e.com", verdict.Infected, "")
}

func TestUUETruncatedIsCorruptedAndScanned(t *testing.T) {
	enc := uuencodeGo("e.com", append(append([]byte{}, eicar...), bytes.Repeat([]byte("x"), 200)...))
	cut := enc[:strings.Index(enc, "\n`")] // no end line
	res := walk("cut.txt", []byte("text\n"+cut), Limits{})
	wantDetection(t, res, "cut.txt/e.com", verdict.Infected, "")
	wantDetection(t, res, "cut.txt", verdict.Corrupted, "no end line")
}

func TestUUECleanIsClean(t *testing.T) {
	res := walk("c.txt", []byte("hi\n"+uuencodeGo("notes.txt", []byte("nothing to see"))), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

// uuencodeBase64Go writes what sharutils' "uuencode -m" writes: base64
// lines of 60 characters between "begin-base64" and "====".
func uuencodeBase64Go(name string, data []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin-base64 644 %s\n", name)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 60 {
		b.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
	b.WriteString("====\n")
	return b.String()
}

func TestUUEBase64MadeBySharutils(t *testing.T) {
	payload := append(bytes.Repeat([]byte{0, 0xff, '=', '\n'}, 40), eicar...)
	enc := toolEncode(t, "e.bin", payload, "uuencode", "-m", "e.bin", "dir/e.com")
	if !bytes.HasPrefix(enc, []byte("begin-base64 ")) {
		t.Fatalf("uuencode -m wrote %q", enc)
	}
	var got []Member
	err := walkUUE(context.Background(), &Container{Data: append([]byte("Hello\n\n"), enc...)}, func(m Member) error {
		got = append(got, m)
		return nil
	})
	if err != nil || len(got) != 1 || got[0].Name != "dir/e.com" || !bytes.Equal(got[0].Data, payload) {
		t.Fatalf("err %v members %+v", err, got)
	}
	// Typed by its content ("begin-base64 644 ..."), with no hint.
	res := walk("m.txt", append([]byte("Hello\n\n"), enc...), Limits{})
	wantDetection(t, res, "m.txt/dir/e.com", verdict.Infected, "")
}

func TestUUEBase64GeneratedAndMixed(t *testing.T) {
	for n := 0; n < 70; n++ { // every padding and line-length case
		data := bytes.Repeat([]byte{0xa5, 0x01, 0x7e}, n)[:2*n]
		text := uuencodeBase64Go("x.bin", data)
		var got []byte
		err := walkUUE(context.Background(), &Container{Data: []byte(text)}, func(m Member) error {
			got = m.Data
			return nil
		})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: err %v, got %x", len(data), err, got)
		}
	}
	// Both kinds in one text (detected as uue by its "begin 644" line),
	// with CRLF line ends; one base64 file lacks its "====" line.
	body := strings.ReplaceAll("intro\n"+uuencodeGo("a.txt", []byte("alpha"))+uuencodeBase64Go("b.com", eicar)+"\n"+
		strings.TrimSuffix(uuencodeBase64Go("c.txt", []byte("cut short")), "====\n"), "\n", "\r\n")
	res := walk("mixed.txt", []byte(body), Limits{})
	wantDetection(t, res, "mixed.txt/b.com", verdict.Infected, "")
	wantDetection(t, res, "mixed.txt", verdict.Corrupted, `"c.txt" has no ==== line`)
	if res.Objects != 4 {
		t.Errorf("%d objects:\n%s", res.Objects, dump(res))
	}
}

func FuzzWalkUUE(f *testing.F) {
	f.Add([]byte(uuencodeGo("a.txt", []byte("harmless"))))
	f.Add([]byte(uuencodeBase64Go("a.txt", []byte("harmless base64"))))
	f.Add([]byte("begin-base64 644 a\nAAB=CC\n====\nbegin-base64 0755 b\n/w\n"))
	f.Add([]byte("text\nbegin 644 x\nM" + strings.Repeat("!", 70) + "\n"))
	f.Add([]byte("begin 0755 a\n\x7f\n" + uuencodeGo("b", []byte("bb"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.uue", data)
	})
}

// TestWriteFuzzSeeds writes seed corpora for the fuzzers of the mail
// encodings and documents, from the Debian tools where there is one
// (sharutils uuencode, uudeview's uuenview, macutils binhex, qpdf) and from
// the tests' own generators otherwise. Payloads are harmless text. Run
// with AVE_WRITE_FIXTURES=1 to regenerate testdata/fuzz.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("AVE_WRITE_FIXTURES") == "" {
		t.Skip("set AVE_WRITE_FIXTURES=1 to regenerate the seed corpora")
	}
	harmless := []byte("harmless fuzz seed content\n")
	seed := func(fuzzer, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)))
	}
	seed("FuzzWalkUUE", "sharutils", append([]byte("Mail text\n\n"), toolEncode(t, "a.txt", harmless, "uuencode", "a.txt", "a.txt")...))
	seed("FuzzWalkUUE", "sharutils-base64", append([]byte("Mail text\n\n"), toolEncode(t, "a.txt", harmless, "uuencode", "-m", "a.txt", "a.txt")...))
	seed("FuzzWalkUUE", "two-files", []byte(uuencodeGo("a", harmless)+"x\n"+uuencodeGo("b.zip", makeZip(t, zipEntry{"z.txt", harmless, 8}))))
	seed("FuzzWalkYEnc", "uuenview", toolEncode(t, "a.txt", harmless, "uuenview", "-y", "a.txt"))
	seed("FuzzWalkYEnc", "multipart", []byte(yencGo("a", harmless[:10], 1, 2, 0, len(harmless))+yencGo("a", harmless[10:], 2, 2, 10, len(harmless))))
	seed("FuzzWalkBinHex", "macutils", toolEncode(t, "a.txt", append(make([]byte, 200), harmless...), "binhex", "-d", "a.txt"))
	seed("FuzzWalkBinHex", "two-forks", []byte(binhexGo("a", harmless, []byte("resource fork"))))
	seed("FuzzWalkTNEF", "attachments", tnefMessage(harmless, []byte("second")))
	inner := tnefMessage([]byte("a"), []byte("b"))
	seed("FuzzWalkTNEF", "embedded-message", newTNEF().attr(2, 0x00069005, mapiProps(mapiProp{ptObject, mapiAttachDataBin, append(make([]byte, 16), inner...)})).bytes())
	seed("FuzzWalkOLE2", "macro", macroDoc(t, "Sub Hello()\r\nEnd Sub\r\n", true))
	seed("FuzzWalkOLE2", "macro-no-dir", macroDoc(t, "Sub Hello()\r\nEnd Sub\r\n", false))
	seed("FuzzWalkRTF", "package", rtfWithObject("Package", ole1("Package", olePackageData("a.txt", harmless))))
	seed("FuzzWalkRTF", "ole2-object", rtfWithObject("Word.Document.8", ole1("Word.Document.8", makeCFB(t, cfbStream{"WordDocument", harmless}))))
	seed("FuzzWalkCHM", "stored", chmSample(harmless))
	objs := pdfPage(pdfStreamObj("/Filter /FlateDecode", zlibBytes(t, harmless)))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (1) >> >>"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.pdf"), makePDF(objs...))
	runTool(t, dir, "qpdf", "--object-streams=generate", "in.pdf", "packed.pdf")
	runTool(t, dir, "qpdf", "--encrypt", "u", "o", "256", "--", "in.pdf", "enc.pdf")
	seed("FuzzWalkPDF", "generated", makePDF(objs...))
	seed("FuzzWalkPDF", "qpdf-object-streams", readFile(t, filepath.Join(dir, "packed.pdf")))
	seed("FuzzWalkPDF", "qpdf-encrypted", readFile(t, filepath.Join(dir, "enc.pdf")))
	seed("FuzzWalkPDF", "lzw-hex-a85", makePDF(pdfPage(pdfStreamObj("/Filter [/AHx /LZW]", []byte(hex.EncodeToString(pdfLZWEncode(harmless))+">")))...))
	seed("FuzzWalkHTML", "data-uris", []byte(`<html><a href="data:text/plain;base64,`+base64.StdEncoding.EncodeToString(harmless)+`">x</a>&#72;</html>`))
}
