package unpack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// qpdfEncrypt encrypts in.pdf in dir with qpdf's arguments, into out.
// Options after "-o" come before --encrypt.
func qpdfEncrypt(t *testing.T, dir, out string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("qpdf"); err != nil {
		t.Skip("qpdf not installed")
	}
	var pre []string
	if i := slices.Index(args, "-o"); i >= 0 {
		args, pre = args[:i], args[i+1:]
	}
	a := append(append(append(pre, "--encrypt"), args...), "--", "in.pdf", out)
	cmd := exec.Command("qpdf", a...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		// Weak algorithms need this option in qpdf 11.
		cmd = exec.Command("qpdf", append([]string{"--allow-weak-crypto"}, a...)...)
		cmd.Dir = dir
		if b2, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("qpdf %v: %v\n%s\n%s", a, err, b, b2)
		}
	}
	return readFile(t, filepath.Join(dir, out))
}

// TestPDFEmptyUserPassword: documents qpdf encrypts with the empty user
// password (RC4 40 and 128 bits, AES-128, AES-256 R6) are decrypted and
// their embedded EICAR found under its decrypted file name, also through
// a PNG predictor and in object streams.
func TestPDFEmptyUserPassword(t *testing.T) {
	dir := t.TempDir()
	payload := predictorPayload(6)
	objs := pdfPage(pdfStreamObj("", []byte("BT /F1 12 Tf (page text) Tj ET")))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >> /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>"
	objs[2] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /Im1 7 0 R >> >> >>"
	objs = append(objs,
		"<< /Type /Filespec /F (eicar.com) /UF (eicar.com) /EF << /F 6 0 R >> >>",
		pdfStreamObj("/Type /EmbeddedFile /Filter /FlateDecode /DecodeParms << /Predictor 15 /Columns 6 >>",
			zlibBytes(t, pngPredict(payload, 1, 6, []byte{4, 2, 1, 3}))),
		pdfStreamObj("/Type /XObject /Subtype /Image /Width 1 /Height 1 /Filter /DCTDecode", []byte("\xff\xd8\xff\xe0 IMAGE-MARKER")))
	writeFile(t, filepath.Join(dir, "in.pdf"), makePDF(objs...))
	for _, c := range []struct {
		name string
		args []string
		rev  string
	}{
		{"rc4-40", []string{"", "owner", "40"}, "/R 2"},
		{"rc4-128", []string{"", "owner", "128", "--use-aes=n"}, "/R 3"},
		{"aes-128", []string{"", "owner", "128", "--use-aes=y"}, "/R 4"},
		{"aes-128, metadata in the clear", []string{"", "owner", "128", "--use-aes=y", "--cleartext-metadata"}, "/R 4"},
		{"aes-256", []string{"", "owner", "256"}, "/R 6"},
		{"aes-256 R5", []string{"", "owner", "256", "--force-R5"}, "/R 5"},
		{"aes-256, object streams", []string{"", "owner", "256", "-o", "--object-streams=generate"}, "/R 6"},
		{"rc4-128, object streams", []string{"", "owner", "128", "--use-aes=n", "-o", "--object-streams=generate"}, "/R 3"},
	} {
		out := strings.NewReplacer(" ", "", ",", "-").Replace(c.name) + ".pdf"
		doc := qpdfEncrypt(t, dir, out, c.args...)
		if bytes.Contains(doc, eicar) || bytes.Contains(doc, []byte("eicar.com")) || !bytes.Contains(doc, []byte(c.rev)) {
			t.Fatalf("%s: qpdf did not encrypt as expected", c.name)
		}
		res, got := walkCapture("x.pdf", doc, "x.pdf/eicar.com")
		wantDetection(t, res, "x.pdf/eicar.com", verdict.Infected, "")
		if !bytes.Equal(got, payload) {
			t.Errorf("%s: decoded %q", c.name, got)
		}
		for _, d := range res.Detections {
			if d.Path != "x.pdf/eicar.com" || d.Status != verdict.Infected {
				t.Errorf("%s: %s", c.name, dump(res))
				break
			}
		}
		// The document's other objects decrypt too: the page content, and
		// a JPEG image (in the clear, it would not be yielded).
		var features string
		page, image := false, false
		w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			if o.Name == PDFFeaturesName {
				features = string(o.Data)
			}
			page = page || bytes.Contains(o.Data, []byte("(page text) Tj"))
			image = image || bytes.Contains(o.Data, []byte("IMAGE-MARKER"))
			return nil, false, nil
		}}
		w.Walk(context.Background(), "x.pdf", doc, "", false)
		if !page || !image || !strings.Contains(features, "JavaScript\nJS\nOpenAction\n") {
			t.Errorf("%s: page %v, image %v, features %q", c.name, page, image, features)
		}
	}
}

// TestPDFUserPasswordIsProtected: a document that needs a user password,
// or an unknown security handler, stays PROTECTED and says why.
func TestPDFUserPasswordIsProtected(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.pdf"), pdfWithEmbedded("/Filter /FlateDecode", zlibBytes(t, eicar)))
	for _, c := range []struct {
		args   []string
		reason string
	}{
		{[]string{"secret", "owner", "256"}, "user password (R 6)"},
		{[]string{"secret", "owner", "128", "--use-aes=y"}, "user password (R 4)"},
		{[]string{"secret", "owner", "40"}, "user password (R 2)"},
	} {
		doc := qpdfEncrypt(t, dir, "s.pdf", c.args...)
		res := walk("s.pdf", doc, Limits{})
		wantNoDetection(t, res, verdict.Infected)
		if res.Status != verdict.Protected {
			t.Fatalf("%v: %s", c.args, dump(res))
		}
		wantDetection(t, res, "s.pdf/obj6", verdict.Protected, c.reason)
		// An unknown handler.
		other := bytes.Replace(doc, []byte("/Filter /Standard"), []byte("/Filter /Acme"), 1)
		if bytes.Equal(other, doc) {
			t.Fatal("no /Filter /Standard in the qpdf output")
		}
		wantDetection(t, walk("s.pdf", other, Limits{}), "s.pdf/obj6", verdict.Protected, `security handler "Acme" not supported`)
	}
}

// TestPDFStreamCryptMethod: which streams are decrypted, and how.
func TestPDFStreamCryptMethod(t *testing.T) {
	// A stream with its own /Crypt filter naming Identity is not
	// decrypted; cross-reference streams never are, metadata streams
	// not with /EncryptMetadata false.
	c := &pdfCrypt{filters: map[string]pdfCryptMethod{"Identity": pdfCryptNone, "StdCF": pdfCryptAESV2}, stm: pdfCryptAESV2, encryptMetadata: true}
	o := &pdfObject{dict: []byte("<< /Filter [/Crypt] /DecodeParms [<< /Name /Identity >>] >>")}
	parms := []pdfDict{{"Name": pdfName("Identity")}}
	if m := c.streamMethod(o, []string{"Crypt"}, parms); m != pdfCryptNone {
		t.Errorf("Identity crypt filter: method %d", m)
	}
	if m := c.streamMethod(o, []string{"FlateDecode"}, nil); m != pdfCryptAESV2 {
		t.Errorf("default: method %d", m)
	}
	x := &pdfObject{dict: []byte("<< /Type /XRef >>")}
	if m := c.streamMethod(x, nil, nil); m != pdfCryptNone {
		t.Errorf("xref stream: method %d", m)
	}
	md := &pdfObject{dict: []byte("<< /Type /Metadata /Subtype /XML >>")}
	if m := c.streamMethod(md, nil, nil); m != pdfCryptAESV2 {
		t.Errorf("metadata: method %d", m)
	}
	c.encryptMetadata = false
	if m := c.streamMethod(md, nil, nil); m != pdfCryptNone {
		t.Errorf("cleartext metadata: method %d", m)
	}
}

// TestPDFEncryptedStringsDecrypted: a script in a /JS string of a
// document qpdf encrypts with the empty user password is not in the file
// as it was written; the decrypted strings (pdf-strings) hold it, so the
// signature is found there, for every algorithm (and in a document that
// is not encrypted, where the string's escapes hide it from the raw bytes).
func TestPDFEncryptedStringsDecrypted(t *testing.T) {
	dir := t.TempDir()
	// EICAR as a PDF literal string: parentheses and backslash escaped.
	lit := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(string(eicar))
	objs := pdfPage(pdfStreamObj("", []byte("BT ET")))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>"
	objs = append(objs, "<< /Type /Action /S /JavaScript /JS (var s = '"+lit+"'; app.alert\\(s\\);) >>")
	plain := makePDF(objs...)
	writeFile(t, filepath.Join(dir, "in.pdf"), plain)
	// Not encrypted: the escapes EICAR needs in a literal string hide it
	// from the raw bytes; pdf-strings has it decoded.
	res := (&Walker{Inspect: inspectEICAR}).Walk(context.Background(), "plain.pdf", plain, "", false)
	wantDetection(t, res, "plain.pdf/"+PDFStringsName, verdict.Infected, "")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"rc4-40", []string{"", "owner", "40"}},
		{"rc4-128", []string{"", "owner", "128", "--use-aes=n"}},
		{"aes-128", []string{"", "owner", "128", "--use-aes=y"}},
		{"aes-256", []string{"", "owner", "256"}},
	} {
		doc := qpdfEncrypt(t, dir, c.name+".pdf", c.args...)
		if bytes.Contains(doc, []byte("EICAR-STANDARD")) || !bytes.Contains(doc, []byte("/JavaScript")) {
			t.Fatalf("%s: qpdf left the script readable or dropped it", c.name)
		}
		res, got := walkCapture("x.pdf", doc, "x.pdf/"+PDFStringsName)
		wantDetection(t, res, "x.pdf/"+PDFStringsName, verdict.Infected, "")
		if !bytes.Contains(got, []byte("app.alert(s);")) {
			t.Errorf("%s: %s lacks the script:\n%q", c.name, PDFStringsName, got)
		}
	}
}

// TestPDFStringsOfPlainDocuments: in a document that is not encrypted,
// pdf-strings holds the strings written as hex or with escapes, decoded
// (a script spelt in hex or octal escapes is read in clear), and none of
// those written as they are (scanned with the file); a document with
// only such strings has no pdf-strings member.
func TestPDFStringsOfPlainDocuments(t *testing.T) {
	walkStrings := func(objs ...string) (verdict.Result, []byte, bool) {
		var got []byte
		seen := false
		w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			if o.Path == "p.pdf/"+PDFStringsName {
				got, seen = append([]byte(nil), o.Data...), true
			}
			return inspectEICAR(ctx, o)
		}}
		return w.Walk(context.Background(), "p.pdf", makePDF(objs...), "", false), got, seen
	}
	page := pdfPage(pdfStreamObj("", []byte("BT ET")))
	page[0] = "<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>"
	hexJS := fmt.Sprintf("<%x>", "var s = '"+string(eicar)+"'; app.alert(s);")
	var octal strings.Builder
	for _, c := range []byte("app.alert('octal')") {
		fmt.Fprintf(&octal, "\\%03o", c)
	}
	res, got, _ := walkStrings(append(page, "<< /S /JavaScript /JS "+hexJS+" /T (plain title) >>")...)
	wantDetection(t, res, "p.pdf/"+PDFStringsName, verdict.Infected, "")
	if bytes.Contains(got, []byte("plain title")) {
		t.Errorf("a string written as it is is in %s:\n%q", PDFStringsName, got)
	}
	_, got, _ = walkStrings(append(page, "<< /S /JavaScript /JS ("+octal.String()+") >>")...)
	if !bytes.Contains(got, []byte("app.alert('octal')")) {
		t.Errorf("octal escapes not decoded: %q", got)
	}
	if _, _, seen := walkStrings(append(page, "<< /S /JavaScript /JS (app.alert) /T (title) >>")...); seen {
		t.Error("a document whose strings are all written as they are got " + PDFStringsName)
	}
}

// TestPDFStringsBudget: pdf-strings stops at its budget on a string
// boundary: the strings that fit are kept whole, the rest dropped.
func TestPDFStringsBudget(t *testing.T) {
	var objs []string
	for i := range 10 {
		objs = append(objs, fmt.Sprintf("<< /T <%x> >>", fmt.Sprintf("string-%d", i)))
	}
	d := makePDF(objs...)
	all := pdfStrings(d, pdfObjects(d), nil, 1<<20)
	if got := strings.Count(string(all), "\n"); got != 10 {
		t.Fatalf("%d strings without a budget, want 10: %q", got, all)
	}
	cut := pdfStrings(d, pdfObjects(d), nil, 3*len("string-0\n")+2)
	if string(cut) != "string-0\nstring-1\nstring-2\n" {
		t.Fatalf("under a budget of three strings and a bit: %q", cut)
	}
}
