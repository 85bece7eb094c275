package mailnotify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

//go:embed templates/*.txt
var builtin embed.FS

// MaxTemplateSize is the largest template file Load and Parse accept.
const MaxTemplateSize = 1 << 20

// Macros are the names a template may use as %NAME%, besides
// %HEADER:Name% and %%.
var Macros = []string{
	"QUEUEID", "MESSAGEID", "SENDER", "RECIPIENTS", "STATUS", "VIRUSNAMES",
	"ACTION", "GROUP", "REPORT", "HOSTNAME", "DATE", "SUBJECT", "HEADERS",
}

// reserved header fields are written by Render; a template may not set
// them (Cc and Bcc too: a notification goes to one envelope recipient).
var reserved = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "date": true,
	"message-id": true, "mime-version": true, "auto-submitted": true,
	"x-ave-notification": true, "return-path": true, "sender": true,
}

// ParseError is a template error: the file (the name given to Parse, or
// the path Load read) and its 1-based line.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("mailnotify: %s:%d: %s", e.File, e.Line, e.Msg)
}

// piece is a literal text (macro == "") or a macro: a name of Macros, or
// "HEADER:" followed by a field name.
type piece struct {
	lit, macro string
}

type headerLine struct {
	name   string
	pieces []piece
}

// Template is one parsed notification template.
type Template struct {
	name    string
	subject []piece
	headers []headerLine // other header lines, in file order
	body    [][]piece    // lines
}

// Templates holds the three templates of the notifications.
type Templates struct {
	t [3]*Template
}

// Parse parses a template: header lines ("Subject: ..." and optionally
// other "Name: value" lines; a line starting with a blank continues the
// previous one), an empty line, the body. Lines end in LF or CRLF; a
// leading UTF-8 byte order mark is ignored. name is used in errors only.
//
// Errors (a *ParseError naming name and the line): the text is not UTF-8
// or is larger than MaxTemplateSize, a header line is not "Name: value", a
// header field Render writes itself (From, To, Cc, Bcc, Date, Message-ID,
// MIME-Version, Auto-Submitted, X-AVE-Notification, Return-Path, Sender,
// Content-*), no Subject or two, an unknown macro, or a lone "%" (write
// "%%" for a percent sign; a macro does not span lines).
func Parse(name string, src []byte) (*Template, error) {
	perr := func(line int, format string, a ...any) error {
		return &ParseError{File: name, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	if len(src) > MaxTemplateSize {
		return nil, perr(1, "template larger than %d bytes", MaxTemplateSize)
	}
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	text := string(src)
	lines := strings.Split(text, "\n")
	if strings.HasSuffix(text, "\n") {
		lines = lines[:len(lines)-1]
	}
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
		if !utf8.ValidString(lines[i]) {
			return nil, perr(i+1, "not valid UTF-8")
		}
		if j := strings.IndexFunc(lines[i], func(r rune) bool {
			return r < ' ' && r != '\t' || r == 0x7f
		}); j >= 0 {
			return nil, perr(i+1, "control character %q", lines[i][j])
		}
	}
	t := &Template{name: name}
	type rawHeader struct {
		name, value string
		line        int
	}
	var hdrs []rawHeader
	i := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			i++
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(hdrs) == 0 {
				return nil, perr(i+1, "continuation line before the first header line")
			}
			hdrs[len(hdrs)-1].value += " " + strings.TrimSpace(l)
			continue
		}
		colon := strings.IndexByte(l, ':')
		if colon <= 0 || !validFieldName(l[:colon]) {
			return nil, perr(i+1, "not a header line \"Name: value\" (the header ends at the first empty line)")
		}
		if colon > 76 {
			return nil, perr(i+1, "header field name longer than 76 characters")
		}
		hdrs = append(hdrs, rawHeader{l[:colon], strings.TrimSpace(l[colon+1:]), i + 1})
	}
	bodyStart := i
	haveSubject := false
	for _, h := range hdrs {
		lower := strings.ToLower(h.name)
		if reserved[lower] || strings.HasPrefix(lower, "content-") {
			return nil, perr(h.line, "header field %s is written by the notifier and cannot be set", h.name)
		}
		ps, err := parsePieces(h.value)
		if err != nil {
			return nil, perr(h.line, "%s", err)
		}
		if lower == "subject" {
			if haveSubject {
				return nil, perr(h.line, "second Subject line")
			}
			haveSubject = true
			t.subject = ps
			continue
		}
		t.headers = append(t.headers, headerLine{h.name, ps})
	}
	if !haveSubject {
		return nil, perr(1, "no Subject header line")
	}
	for j := bodyStart; j < len(lines); j++ {
		ps, err := parsePieces(lines[j])
		if err != nil {
			return nil, perr(j+1, "%s", err)
		}
		t.body = append(t.body, ps)
	}
	return t, nil
}

// validFieldName: RFC 5322 ftext, printable ASCII other than colon.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}

var knownMacro = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range Macros {
		m[n] = true
	}
	return m
}()

// parsePieces splits one line into literals and macros.
func parsePieces(s string) ([]piece, error) {
	var ps []piece
	var lit strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		s = s[i+1:]
		j := strings.IndexByte(s, '%')
		if j < 0 {
			return nil, errors.New(`lone "%" (write "%%" for a percent sign)`)
		}
		name := s[:j]
		s = s[j+1:]
		switch {
		case name == "":
			lit.WriteByte('%')
			continue
		case knownMacro[name]:
		case strings.HasPrefix(name, "HEADER:") && validFieldName(name[len("HEADER:"):]):
		default:
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			return nil, fmt.Errorf("unknown macro %%%s%% (a lone \"%%\" is written \"%%%%\")", name)
		}
		if lit.Len() > 0 {
			ps = append(ps, piece{lit: lit.String()})
			lit.Reset()
		}
		ps = append(ps, piece{macro: name})
	}
	if lit.Len() > 0 {
		ps = append(ps, piece{lit: lit.String()})
	}
	return ps, nil
}

// Builtin returns the built-in template text of a kind (the text shipped
// as etc/templates/<kind>.txt).
func Builtin(kind Kind) []byte {
	b, err := builtin.ReadFile("templates/" + kind.File())
	if err != nil {
		panic("mailnotify: built-in template missing: " + err.Error())
	}
	return b
}

// Load reads sender.txt, recipient.txt and admin.txt from dir; a file
// missing from dir is replaced by its built-in template, and dir ""
// gives the built-ins only. A dir that does not exist or is not a
// directory is an error, as is any template error (a *ParseError naming
// the file and line) or a file that cannot be read.
func Load(dir string) (*Templates, error) {
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("mailnotify: template directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("mailnotify: template directory %s is not a directory", dir)
		}
	}
	ts := &Templates{}
	for _, k := range kinds {
		name := "built-in " + k.File()
		src := Builtin(k)
		if dir != "" {
			p := filepath.Join(dir, k.File())
			b, err := readFile(p)
			switch {
			case err == nil:
				name, src = p, b
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("mailnotify: %w", err)
			}
		}
		t, err := Parse(name, src)
		if err != nil {
			return nil, err
		}
		ts.t[k] = t
	}
	return ts, nil
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTemplateSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

// New returns Templates made of three parsed templates; a nil one is
// replaced by its built-in.
func New(sender, recipient, admin *Template) *Templates {
	ts := &Templates{t: [3]*Template{sender, recipient, admin}}
	for _, k := range kinds {
		if ts.t[k] == nil {
			t, err := Parse("built-in "+k.File(), Builtin(k))
			if err != nil {
				panic(err)
			}
			ts.t[k] = t
		}
	}
	return ts
}
