package mimeparts

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"ave/pkg/filetype"
	"ave/pkg/unpack"
	"ave/pkg/verdict"
)

var eicar = []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)

func inspectEICAR(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
	if bytes.Contains(o.Data, eicar) {
		return []verdict.Detection{{Status: verdict.Infected, Name: "EICAR", Engine: verdict.EngineBody}}, false, nil
	}
	return nil, false, nil
}

// scan walks a message, with inspectEICAR skipping the top object so that
// only what the parser extracts can match.
func scan(name string, msg string, l unpack.Limits) verdict.Result {
	w := &unpack.Walker{Limits: l, Inspect: func(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
		if o.Depth == 0 {
			return nil, false, nil
		}
		return inspectEICAR(ctx, o)
	}}
	return w.Walk(context.Background(), name, []byte(msg), "", false)
}

func dump(res verdict.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %s, %d objects\n", res.Status, res.Objects)
	for _, d := range res.Detections {
		fmt.Fprintf(&b, "  %s %s %q %s\n", d.Path, d.Status, d.Reason, d.Name)
	}
	return b.String()
}

func wantDetection(t *testing.T, res verdict.Result, path string, st verdict.Status, reason string) verdict.Detection {
	t.Helper()
	for _, d := range res.Detections {
		if d.Path == path && d.Status == st {
			if !strings.Contains(d.Reason, reason) {
				t.Fatalf("%s %s: reason %q does not contain %q", path, st, d.Reason, reason)
			}
			return d
		}
	}
	t.Fatalf("no %s detection for %q in:\n%s", st, path, dump(res))
	return verdict.Detection{}
}

func wantClean(t *testing.T, res verdict.Result) {
	t.Helper()
	if res.Status != verdict.Clean || len(res.Detections) != 0 {
		t.Fatalf("want CLEAN:\n%s", dump(res))
	}
}

// members runs Walk directly and returns what it yields, with its error.
func members(t *testing.T, msg string, depth, maxDepth int) ([]unpack.Member, error) {
	t.Helper()
	var got []unpack.Member
	err := Walk(context.Background(), &unpack.Container{Data: []byte(msg), Name: "m", Type: filetype.Mail, Depth: depth, MaxDepth: maxDepth},
		func(m unpack.Member) error {
			got = append(got, m)
			return nil
		})
	return got, err
}

func names(ms []unpack.Member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return strings.Join(out, ",")
}

func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}

func qp(b []byte) string {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.String()
}

// mail builds a multipart/mixed message with a text body and the given
// extra parts (each a header block and body, already encoded).
func mail(parts ...string) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"BOUND\"\r\n\r\npreamble\r\n")
	b.WriteString("--BOUND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n")
	for _, p := range parts {
		b.WriteString("--BOUND\r\n" + p + "\r\n")
	}
	b.WriteString("--BOUND--\r\n")
	return b.String()
}

func attachment(name, ctype string, data []byte) string {
	return fmt.Sprintf("Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s",
		ctype, name, name, b64(data))
}

func makeZip(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeTarGz(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	if _, err := zw.Write(tb.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gb.Bytes()
}

func TestMIMEFindsEICARInBase64Attachment(t *testing.T) {
	res := scan("msg.eml", mail(attachment("eicar.com", "application/octet-stream", eicar)), unpack.Limits{})
	d := wantDetection(t, res, "msg.eml/eicar.com", verdict.Infected, "")
	if d.Depth != 1 {
		t.Errorf("depth %d", d.Depth)
	}
	if res.Objects != 3 {
		t.Errorf("%d objects, want message, text body and attachment:\n%s", res.Objects, dump(res))
	}
}

func TestMIMEFindsEICARInZipInTarGzInBase64Part(t *testing.T) {
	tgz := makeTarGz(t, "a.zip", makeZip(t, "eicar.com", eicar))
	res := scan("msg.eml", mail(attachment("x.tar.gz", "application/gzip", tgz)), unpack.Limits{})
	d := wantDetection(t, res, "msg.eml/x.tar.gz/x.tar/a.zip/eicar.com", verdict.Infected, "")
	if d.Depth != 4 {
		t.Errorf("depth %d", d.Depth)
	}
	if res.Status != verdict.Infected {
		t.Errorf("status %s", res.Status)
	}
}

func TestMIMEFindsEICARInQuotedPrintablePart(t *testing.T) {
	// EICAR needs no escaping, so the encoder would leave it whole: split
	// it with a soft line break and escape a few of its characters.
	enc := qp([]byte("Some text with a long line that will be soft-broken by the encoder "+strings.Repeat("x", 80)+"\n")) +
		strings.NewReplacer("E", "=45", "$", "=24").Replace(string(eicar[:30])) + "=\r\n" + string(eicar[30:])
	if strings.Contains(enc, string(eicar)) {
		t.Fatal("encoding left EICAR intact; the test would prove nothing")
	}
	msg := mail("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + enc)
	res := scan("qp.eml", msg, unpack.Limits{})
	wantDetection(t, res, "qp.eml/2", verdict.Infected, "")
}

func TestMIMEFindsEICARInNestedRFC822Message(t *testing.T) {
	inner := "From: c@example.org\r\nSubject: inner\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=inner\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" +
		"--inner\r\n" + attachment("eicar.com", "application/octet-stream", eicar) + "\r\n--inner--\r\n"
	msg := mail("Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=fwd.eml\r\n\r\n" + inner)
	res := scan("msg.eml", msg, unpack.Limits{})
	d := wantDetection(t, res, "msg.eml/fwd.eml/eicar.com", verdict.Infected, "")
	if d.Depth != 2 {
		t.Errorf("depth %d", d.Depth)
	}

	// Unnamed, base64-encoded, twice nested.
	twice := mail("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64([]byte(msg)))
	res = scan("top.eml", twice, unpack.Limits{})
	wantDetection(t, res, "top.eml/2/fwd.eml/eicar.com", verdict.Infected, "")
}

func TestMIMECleanMessagesAreClean(t *testing.T) {
	for name, msg := range map[string]string{
		"plain":      "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nJust text.\r\n",
		"multipart":  mail(attachment("doc.pdf", "application/pdf", []byte("%PDF-1.4 harmless"))),
		"html":       mail("Content-Type: text/html\r\n\r\n<html><body>hi</body></html>"),
		"bare-lf":    strings.ReplaceAll(mail(attachment("a.bin", "application/octet-stream", []byte{1, 2, 3})), "\r\n", "\n"),
		"no-body":    "From: a@example.org\r\nSubject: empty\r\n",
		"nul-bytes":  "From: a@example.org\r\nSubject: nul\r\n\r\nabc\x00def\r\n",
		"8bit-heads": "From: J\xf6rg <j@example.org>\r\nSubject: gr\xfc\xdfe\r\n\r\ntext\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			wantClean(t, scan("c.eml", msg, unpack.Limits{}))
		})
	}
}

func TestMIMEPartNumbersAndDepths(t *testing.T) {
	msg := "From: a@example.org\r\nSubject: n\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain\r\n\r\nplain\r\n" +
		"--alt\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n" +
		"--rel\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n" +
		"--rel\r\nContent-Type: image/png; name=logo.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
		"--rel--\r\n" +
		"--alt--\r\n" +
		"--outer\r\nContent-Type: application/octet-stream\r\n\r\nbinary\r\n" +
		"--outer--\r\n"
	got, err := members(t, msg, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name  string
		depth int
		data  string
	}{
		{"1.1", 1, "plain"},
		{"1.2.1", 2, "<p>html</p>"},
		{"logo.png", 2, "\x89PNG\r\n\x1a\n"},
		{"2", 0, "binary"},
	}
	if len(got) != len(want) {
		t.Fatalf("members %s", names(got))
	}
	for i, w := range want {
		m := got[i]
		if m.Name != w.name || m.Depth != w.depth || string(m.Data) != w.data || m.Anomaly != "" {
			t.Errorf("member %d: %q depth %d data %q anomaly %q; want %q depth %d data %q", i, m.Name, m.Depth, m.Data, m.Anomaly, w.name, w.depth, w.data)
		}
	}

	// A message that is not multipart has one body part, "1".
	got, err = members(t, "Subject: x\r\nFrom: y\r\n\r\nbody\r\n", 0, 16)
	if err != nil || names(got) != "1" || string(got[0].Data) != "body\r\n" {
		t.Fatalf("members %s %v", names(got), err)
	}
}

func TestMIMEMissingClosingBoundaryIsAnomalyAndContentScanned(t *testing.T) {
	msg := strings.TrimSuffix(mail(attachment("eicar.com", "application/octet-stream", eicar)), "--BOUND--\r\n")
	res := scan("m.eml", msg, unpack.Limits{})
	wantDetection(t, res, "m.eml/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "m.eml/eicar.com", verdict.Corrupted, "missing closing boundary")
}

func TestMIMEHeaderLineWithoutColonIsRecovered(t *testing.T) {
	msg := "From: a@example.org\r\nthis line has no colon\r\nSubject: x\r\n" +
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nbroken part header line\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=e.com\r\n\r\n" + b64(eicar) + "\r\n--B--\r\n"
	res := scan("h.eml", msg, unpack.Limits{})
	wantDetection(t, res, "h.eml/e.com", verdict.Infected, "")
	wantDetection(t, res, "h.eml/e.com", verdict.Corrupted, "malformed MIME header line: broken part header line")
	wantDetection(t, res, "h.eml", verdict.Corrupted, "malformed MIME header line: this line has no colon")
}

func TestMIMECorruptBase64IsDecodedLeniently(t *testing.T) {
	enc := b64(eicar)
	corrupt := enc[:10] + "!!*" + enc[10:30] + "\x00" + enc[30:]
	msg := mail("Content-Type: application/octet-stream; name=bad.com\r\nContent-Transfer-Encoding: base64\r\n\r\n" + corrupt)
	res := scan("b.eml", msg, unpack.Limits{})
	wantDetection(t, res, "b.eml/bad.com", verdict.Infected, "")
	wantDetection(t, res, "b.eml/bad.com", verdict.Corrupted, "corrupt base64: 4 invalid characters skipped")
}

func TestMIMEUnknownEncodingIsScannedRaw(t *testing.T) {
	msg := mail("Content-Type: application/octet-stream; name=x.com\r\nContent-Transfer-Encoding: x-martian\r\n\r\n" + string(eicar))
	res := scan("u.eml", msg, unpack.Limits{})
	wantDetection(t, res, "u.eml/x.com", verdict.Infected, "")
	wantDetection(t, res, "u.eml/x.com", verdict.Corrupted, `unknown Content-Transfer-Encoding "x-martian"`)
}

func TestMIMEUnknownCharsetIsNotAnError(t *testing.T) {
	body := append([]byte("caf\xe9 "), eicar...)
	msg := mail("Content-Type: text/plain; charset=x-unknown-klingon\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(body))
	got, err := members(t, msg, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[1].Data, body) || got[1].Anomaly != "" {
		t.Fatalf("members %s; second %q anomaly %q", names(got), got[1].Data, got[1].Anomaly)
	}
	res := scan("cs.eml", msg, unpack.Limits{})
	wantDetection(t, res, "cs.eml/2", verdict.Infected, "")
	if len(res.Detections) != 1 {
		t.Errorf("extra detections:\n%s", dump(res))
	}
}

func TestMIMEBrokenMultipartFallsBackToRawBody(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, anomaly string
	}{
		{"no-boundary-param", "multipart/mixed", "multipart without boundary parameter"},
		{"boundary-not-found", "multipart/mixed; boundary=NOPE", "multipart body without boundary delimiter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := "From: a@example.org\r\nSubject: x\r\nContent-Type: " + tc.ctype + "\r\n\r\n--B\r\n\r\n" + string(eicar) + "\r\n--B--\r\n"
			res := scan("f.eml", msg, unpack.Limits{})
			wantDetection(t, res, "f.eml/body", verdict.Infected, "")
			wantDetection(t, res, "f.eml/body", verdict.Corrupted, tc.anomaly)
		})
	}
}

func TestMIMEInvalidContentTypeParametersAreRecovered(t *testing.T) {
	for _, ctype := range []string{
		`multipart/mixed; boundary="B"; boundary="C"`, // duplicate parameter
		`multipart/mixed; boundary=B X; ;;`,           // junk after the value
		`multipart/mixed boundary=B`,                  // missing ";"
	} {
		t.Run(ctype, func(t *testing.T) {
			msg := "From: a@example.org\r\nSubject: x\r\nContent-Type: " + ctype + "\r\n\r\n--B\r\n" +
				attachment("e.com", "application/octet-stream", eicar) + "\r\n--B--\r\n"
			res := scan("p.eml", msg, unpack.Limits{})
			wantDetection(t, res, "p.eml/e.com", verdict.Infected, "")
			wantDetection(t, res, "p.eml/e.com", verdict.Corrupted, "invalid Content-Type")
		})
	}
}

func TestMIMEFileNames(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{`Content-Disposition: attachment; filename="report.pdf"`, "report.pdf"},
		{`Content-Type: application/pdf; name="by-type.pdf"`, "by-type.pdf"},
		{`Content-Disposition: attachment; filename="=?UTF-8?B?w6l0w6kucGRm?="`, "été.pdf"},
		{`Content-Disposition: attachment; filename*=UTF-8''%C3%A9t%C3%A9.pdf`, "été.pdf"},
		{`Content-Disposition: attachment; filename="=?x-unknown?Q?raw=20name?="`, "raw name"},
		{`Content-Disposition: attachment; filename="C:\\Users\\x\\evil.exe"`, "evil.exe"},
		{`Content-Disposition: attachment; filename="../../etc/passwd"`, "passwd"},
		{`Content-Disposition: attachment; filename="a"; filename="b"`, "a"},
		{`Content-Disposition: attachment`, "2"},
	} {
		got, err := members(t, mail(tc.header+"\r\n\r\ndata"), 0, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Name != tc.want {
			t.Errorf("%s: members %s, want %q", tc.header, names(got), tc.want)
		}
	}
}

func TestMIMEMboxYieldsEachMessage(t *testing.T) {
	m1 := "From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nSubject: one\n\nclean\n\n"
	m2 := "From b@example.org Mon Jan  1 00:00:01 2024\nFrom: b@example.org\nSubject: two\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64(eicar) + "\n"
	got, err := members(t, m1+m2, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Data) != m1 || string(got[1].Data) != m2 || got[0].Hint != filetype.Mail {
		t.Fatalf("mbox members: %+v", got)
	}
	res := scan("inbox", m1+m2, unpack.Limits{})
	wantDetection(t, res, "inbox/2/1", verdict.Infected, "")
	if len(res.Detections) != 1 {
		t.Errorf("extra detections:\n%s", dump(res))
	}
}

func TestMIMEStopsAtMaxDepthOfNestedMultipart(t *testing.T) {
	// 30 multiparts, one inside the other, EICAR in the innermost.
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: deep\r\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: application/octet-stream\r\n\r\n" + string(eicar) + "\r\n")
	for i := 29; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	res := scan("deep.eml", b.String(), unpack.Limits{MaxDepth: 16})
	wantDetection(t, res, "deep.eml", verdict.Unchecked, "limit: multipart nested deeper than MaxDepth 16")

	_, err := members(t, b.String(), 3, 16)
	if !errors.Is(err, unpack.ErrLimit) {
		t.Fatalf("err %v, want ErrLimit", err)
	}
	got, err := members(t, b.String(), 0, 40)
	if err != nil || len(got) != 1 || got[0].Depth != 29 || got[0].Name != strings.Repeat("1.", 29)+"1" {
		t.Fatalf("with room: %s %v", names(got), err)
	}
}

func TestMIMEStopsAtDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	w := &unpack.Walker{Inspect: func(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
		if o.Name == "1" {
			<-ctx.Done()
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(ctx, "t.eml", []byte(mail(attachment("e.com", "application/octet-stream", eicar))), "", false)
	wantDetection(t, res, "t.eml", verdict.Unchecked, "scan time exceeded")
}

func TestMIMEDigestPartsDefaultToMessages(t *testing.T) {
	msg := "From: a@example.org\r\nSubject: digest\r\nContent-Type: multipart/digest; boundary=D\r\n\r\n" +
		"--D\r\n\r\nFrom: x@example.org\r\nSubject: in digest\r\n\r\n" + string(eicar) + "\r\n--D--\r\n"
	got, err := members(t, msg, 0, 16)
	if err != nil || len(got) != 1 || got[0].Hint != filetype.Mail {
		t.Fatalf("members %+v %v", got, err)
	}
	res := scan("d.eml", msg, unpack.Limits{})
	wantDetection(t, res, "d.eml/1/1", verdict.Infected, "")
}

func TestMIMEHeaderWithoutEmptyLine(t *testing.T) {
	msg := "From: a@example.org\r\nSubject: x\r\n" + string(eicar) + "\r\n"
	got, err := members(t, msg, 0, 16)
	if !errors.Is(err, unpack.ErrCorrupt) || !strings.Contains(err.Error(), "header not followed by an empty line") {
		t.Fatalf("err %v", err)
	}
	if len(got) != 1 || !bytes.HasPrefix(got[0].Data, eicar) {
		t.Fatalf("members %+v", got)
	}
}

func TestDecodeBase64(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      int
	}{
		{"aGVsbG8=", "hello", 0},
		{"aGVs\r\nbG8=\r\n", "hello", 0},
		{"aGVsbG8", "hello", 0},               // padding missing
		{"aGV*sbG8=", "hello", 1},             // junk skipped
		{"aGVsbG8=aGVsbG8=", "hellohello", 0}, // concatenated
		{"a", "", 1},                          // six bits only
		{"", "", 0},
	} {
		got, bad := decodeBase64([]byte(tc.in))
		if string(got) != tc.want || bad != tc.bad {
			t.Errorf("decodeBase64(%q) = %q, %d; want %q, %d", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}

func TestDecodeQuotedPrintable(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      int
	}{
		{"caf=C3=A9", "café", 0},
		{"caf=c3=a9", "café", 0},
		{"soft=\r\nbreak", "softbreak", 0},
		{"soft=  \nbreak", "softbreak", 0},
		{"trailing   \r\nspace", "trailing\r\nspace", 0},
		{"kept=20\r\n", "kept \r\n", 0},
		{"bad=ZZ", "bad=ZZ", 1},
		{"end=", "end", 0},
		{"a=\rb", "ab", 0},
	} {
		got, bad := decodeQP([]byte(tc.in))
		if string(got) != tc.want || bad != tc.bad {
			t.Errorf("decodeQP(%q) = %q, %d; want %q, %d", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}

func TestSplitMultipart(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		parts      []string
		closed     bool
	}{
		{"crlf", "pre\r\n--b\r\none\r\n--b\r\ntwo\r\n--b--\r\nepi", []string{"one", "two"}, true},
		{"lf", "--b\none\n--b--\n", []string{"one"}, true},
		{"unclosed", "--b\r\none\r\n--b\r\ntwo", []string{"one", "two"}, false},
		{"prefix-not-boundary", "--b\r\n--bb is data\r\n--b--", []string{"--bb is data"}, true},
		{"mid-line-not-boundary", "--b\r\nx --b\r\n--b--", []string{"x --b"}, true},
		{"blank-after-boundary", "--b  \r\none\r\n--b--", []string{"one"}, true},
		{"empty-part", "--b\r\n\r\n--b--", []string{""}, true},
		{"none", "no delimiters", nil, false},
	} {
		parts, closed := splitMultipart([]byte(tc.body), "b")
		var got []string
		for _, p := range parts {
			got = append(got, string(p))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.parts) || closed != tc.closed {
			t.Errorf("%s: got %q closed %v; want %q closed %v", tc.name, got, closed, tc.parts, tc.closed)
		}
	}
}

func TestMailFormatIsRegistered(t *testing.T) {
	if f := unpack.Lookup(filetype.Mail); f == nil || f.Name != "mime" {
		t.Fatalf("mail format: %+v", f)
	}
}

func FuzzWalkMIME(f *testing.F) {
	f.Add([]byte(mail(attachment("eicar.com", "application/octet-stream", eicar))))
	f.Add([]byte(mail("Content-Type: message/rfc822\r\n\r\nFrom: x\r\nSubject: y\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nq\r\n--z")))
	f.Add([]byte("From x\nFrom: a\nSubject: b\n\nbody\nFrom y\nFrom: c\nTo: d\n\n"))
	f.Add([]byte("From: a\r\nSubject: b\r\nContent-Type: multipart/mixed; boundary=\"a\"; boundary=b\r\n\r\n--a\r\nbroken header\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=4\r\n"))
	f.Add([]byte("Subject: x\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: y\nContent-Transfer-Encoding: base64\n\n!!!!\n--d--"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w := &unpack.Walker{
			Limits:  unpack.Limits{MaxObjectSize: 1 << 20, MaxScanBytes: 8 << 20, MaxDepth: 6, MaxFiles: 64, MaxRatio: 100, RatioFloor: 64 << 10},
			Inspect: inspectEICAR,
		}
		res := w.Walk(ctx, "f.eml", data, filetype.Mail, false)
		if res.Status < verdict.Clean || res.Status > verdict.Infected {
			t.Fatalf("invalid status %d", res.Status)
		}
		for _, d := range res.Detections {
			if d.Path == "" || (d.Status != verdict.Infected && d.Reason == "") {
				t.Fatalf("bad detection %+v", d)
			}
			if strings.Contains(d.Reason, "internal error") {
				t.Fatalf("panic: %+v", d)
			}
		}
		// Parts are disjoint and decoding never grows them: the members of
		// one message never hold more bytes than the message.
		total := 0
		err := Walk(ctx, &unpack.Container{Data: data, Name: "f.eml", Type: filetype.Mail, MaxDepth: 6}, func(m unpack.Member) error {
			total += len(m.Data)
			if m.Open != nil {
				t.Fatalf("member %q has a reader", m.Name)
			}
			return nil
		})
		if err != nil && !errors.Is(err, unpack.ErrCorrupt) && !errors.Is(err, unpack.ErrLimit) && ctx.Err() == nil {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if total > len(data) {
			t.Fatalf("members hold %d bytes, more than the %d-byte message", total, len(data))
		}
	})
}

// decodeBase64Simple is decodeBase64 without its fast path: one character
// at a time.
func decodeBase64Simple(src []byte) (out []byte, bad int) {
	var q [4]byte
	n := 0
	flush := func() {
		switch n {
		case 1:
			bad++
		case 2:
			out = append(out, q[0]<<2|q[1]>>4)
		case 3:
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
		}
		n = 0
	}
	for _, c := range src {
		switch v := b64Values[c]; v {
		case b64Space:
		case b64Pad:
			flush()
		case b64Invalid:
			bad++
		default:
			q[n] = v
			if n++; n == 4 {
				out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
				n = 0
			}
		}
	}
	flush()
	return out, bad
}

func TestDecodeBase64FastPathAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"QUJD", "QU", "Q", "=", "==", "\r\n", " ", "\t", "!", "*", "\xff", "ZXhhbXBsZQ", "+/+/", "-_",
		"QUJDREVGR0hJSktM", "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo0NTY3ODkw"}
	for i := 0; i < 20000; i++ {
		var b []byte
		for n := rng.IntN(30); n > 0; n-- {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		got, gbad := decodeBase64(b)
		want, wbad := decodeBase64Simple(b)
		if !bytes.Equal(got, want) || gbad != wbad {
			t.Fatalf("decodeBase64(%q) = %q, %d; one at a time: %q, %d", b, got, gbad, want, wbad)
		}
	}
}

// FuzzDecodeBase64 checks the fast paths against the one-character-at-a-
// time decoder on any input.
func FuzzDecodeBase64(f *testing.F) {
	f.Add([]byte("QUJDREVGR0hJSktM\r\nQUJD=\r\n"))
	f.Add([]byte("YWJj ZGVm\tZ2hp!amts=bW5v"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gbad := decodeBase64(b)
		want, wbad := decodeBase64Simple(b)
		if !bytes.Equal(got, want) || gbad != wbad {
			t.Fatalf("decodeBase64(%q) = %q, %d; one at a time: %q, %d", b, got, gbad, want, wbad)
		}
	})
}

func BenchmarkDecodeBase64(b *testing.B) {
	raw := make([]byte, 48<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var src []byte
	for len(enc) > 76 {
		src = append(append(src, enc[:76]...), "\r\n"...)
		enc = enc[76:]
	}
	src = append(src, enc...)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		out, bad := decodeBase64(src)
		if bad != 0 || len(out) != len(raw) {
			b.Fatalf("%d bytes, %d bad", len(out), bad)
		}
	}
}
