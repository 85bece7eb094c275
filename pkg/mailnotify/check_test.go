package mailnotify

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"sort"
	"strings"
	"unicode/utf8"
)

// parsed is a rendered notification read back with net/mail and
// mime/multipart.
type parsed struct {
	header  mail.Header
	names   []string // header field names in order
	subject string   // decoded
	text    string   // the decoded text part
	atts    []parsedPart
}

type parsedPart struct {
	contentType, cte, filename string
	data                       []byte // decoded
}

// checkMessage checks the wire form of a notification (CRLF only, lines
// of at most 998 bytes, header lines of at most 78 unless one word is
// longer, valid UTF-8 text) and parses it.
func checkMessage(msg []byte) (*parsed, error) {
	for i, c := range msg {
		switch c {
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				return nil, fmt.Errorf("bare CR at %d", i)
			}
		case '\n':
			if i == 0 || msg[i-1] != '\r' {
				return nil, fmt.Errorf("bare LF at %d", i)
			}
		case 0:
			return nil, fmt.Errorf("NUL at %d", i)
		}
	}
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		return nil, fmt.Errorf("message does not end in CRLF")
	}
	for n, l := range bytes.Split(msg, []byte("\r\n")) {
		if len(l) > 998 {
			return nil, fmt.Errorf("line %d longer than 998 bytes (%d)", n+1, len(l))
		}
	}
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, fmt.Errorf("no end of header")
	}
	var names []string
	for _, l := range strings.Split(string(msg[:end]), "\r\n") {
		if l == "" {
			return nil, fmt.Errorf("empty header line")
		}
		if l[0] != ' ' && l[0] != '\t' {
			i := strings.IndexByte(l, ':')
			if i <= 0 {
				return nil, fmt.Errorf("header line without colon: %q", l)
			}
			names = append(names, l[:i])
		} else if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("blank continuation line")
		}
		if !strings.HasPrefix(l, "To:") && !strings.HasPrefix(l, "From:") && !strings.HasPrefix(l, "Message-ID:") && !strings.HasPrefix(l, "Content-") && len(l) > 78 {
			return nil, fmt.Errorf("header line longer than 78: %q", l)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, err
	}
	p := &parsed{header: m.Header, names: names}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %v", err)
	}
	if _, err := m.Header.Date(); err != nil {
		return nil, fmt.Errorf("date: %v", err)
	}
	for _, k := range []string{"From", "To"} {
		if _, err := mail.ParseAddress(m.Header.Get(k)); err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("content-type: %v", err)
	}
	readText := func(cte string, r io.Reader) (string, error) {
		if cte == "quoted-printable" {
			r = quotedprintable.NewReader(r)
		} else if cte != "7bit" {
			return "", fmt.Errorf("text part encoded %q", cte)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return "", err
		}
		if !utf8.Valid(b) {
			return "", fmt.Errorf("text part not UTF-8")
		}
		return string(b), nil
	}
	switch mt {
	case "text/plain":
		if params["charset"] != "utf-8" {
			return nil, fmt.Errorf("charset %q", params["charset"])
		}
		if p.text, err = readText(m.Header.Get("Content-Transfer-Encoding"), m.Body); err != nil {
			return nil, err
		}
		return p, nil
	case "multipart/mixed":
	default:
		return nil, fmt.Errorf("content type %q", mt)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		// RawPart: no transparent quoted-printable decoding.
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", i, err)
		}
		cte := part.Header.Get("Content-Transfer-Encoding")
		if i == 0 {
			if part.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				return nil, fmt.Errorf("first part %q", part.Header.Get("Content-Type"))
			}
			if p.text, err = readText(cte, part); err != nil {
				return nil, err
			}
			continue
		}
		var r io.Reader = part
		switch cte {
		case "7bit", "8bit":
		case "quoted-printable":
			r = quotedprintable.NewReader(part)
		case "base64":
			r = base64Reader(part)
		default:
			return nil, fmt.Errorf("part %d encoded %q", i, cte)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", i, err)
		}
		if cte == "7bit" || cte == "8bit" {
			if ok, eight := lineClean(data); !ok || eight != (cte == "8bit") {
				return nil, fmt.Errorf("part %d: %s content not clean", i, cte)
			}
		}
		_, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil {
			return nil, fmt.Errorf("part %d disposition: %v", i, err)
		}
		p.atts = append(p.atts, parsedPart{part.Header.Get("Content-Type"), cte, dp["filename"], data})
	}
	return p, nil
}

func base64Reader(r io.Reader) io.Reader { return base64.NewDecoder(base64.StdEncoding, r) }

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
