package mailedit

import (
	"bytes"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"ave/pkg/mimeparts"
)

var fuzzSeeds = []string{mixed, nested, rfc822, single, lf(nested), noFinalNewline, unclosed, preamble,
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nx\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n--c",
	"From x\nSubject: a\n\nbody\n", "", "no header\n"}

func leafNames(ls []mimeparts.Leaf) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Name)
	}
	return strings.Join(s, "\x00")
}

// checkSpans asserts the invariants of Leaves' spans.
func checkSpans(t *testing.T, data []byte, leaves []mimeparts.Leaf) {
	t.Helper()
	prev := int64(0)
	for i, l := range leaves {
		if l.Start < prev || l.End < l.Start || l.End > int64(len(data)) || l.BodyStart < l.Start || l.BodyStart > l.End {
			t.Fatalf("leaf %d %+v: out of order or bounds (previous end %d, length %d)", i, l, prev, len(data))
		}
		if l.Root != (l.Num == "") || (l.Root && len(leaves) != 1) {
			t.Fatalf("leaf %d %+v: Root among %d leaves", i, l, len(leaves))
		}
		prev = l.End
	}
}

func FuzzLeaves(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		leaves := mimeparts.Leaves(data)
		checkSpans(t, data, leaves)
		out, err := Replace(data, nil)
		if leaves == nil {
			if !errors.Is(err, ErrMbox) {
				t.Fatalf("no leaves, err %v", err)
			}
			return
		}
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("empty Replace: %v", err)
		}
	})
}

func FuzzReplace(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), byte(0xff), "removed: infected\n--x")
	}
	f.Fuzz(func(t *testing.T, data []byte, mask byte, notice string) {
		leaves := mimeparts.Leaves(data)
		var edits []Edit
		var idx []int
		for i, l := range leaves {
			if !l.Root && mask&(1<<(i%8)) != 0 {
				edits = append(edits, Edit{Start: l.Start, End: l.End, Notice: notice})
				idx = append(idx, i)
			}
		}
		out, err := Replace(data, edits)
		switch {
		case leaves == nil:
			if !errors.Is(err, ErrMbox) {
				t.Fatalf("mbox: %v", err)
			}
			return
		case err != nil && errors.Is(err, ErrStructure):
			return // malformed structure the notice would change
		case err != nil:
			t.Fatalf("valid edits refused: %v", err)
		}
		after := mimeparts.Leaves(out)
		checkSpans(t, out, after)
		if len(after) != len(leaves) {
			t.Fatalf("%d leaves after Replace, %d before", len(after), len(leaves))
		}
		eol := parseHeader(data).eol
		checkOutside(t, data, out, edits, eol)
		want := strings.ToValidUTF8(notice, "\uFFFD")
		want = strings.ReplaceAll(want, "\r\n", "\n")
		want = strings.ReplaceAll(want, "\r", "\n")
		want = strings.ReplaceAll(want, "\n", eol)
		for _, i := range idx {
			body := out[after[i].BodyStart:after[i].End]
			// The notice is 7bit when it is short plain ASCII ("=" is
			// then just "="), else quoted-printable.
			got := body
			if bytes.Contains(out[after[i].Start:after[i].BodyStart], []byte("Content-Transfer-Encoding: quoted-printable")) {
				var err error
				if got, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err != nil {
					t.Fatalf("notice body %q: %v", body, err)
				}
			}
			if g := string(got); g != want && g != want+eol {
				t.Fatalf("notice %q decodes to %q, want %q", body, got, want)
			}
		}
	})
}

func FuzzAppendPart(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "report.txt", "scan report\n")
	}
	f.Fuzz(func(t *testing.T, data []byte, filename, text string) {
		before := mimeparts.Leaves(data)
		out, err := AppendPart(data, filename, text)
		if before == nil {
			if !errors.Is(err, ErrMbox) {
				t.Fatalf("mbox: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendPart: %v", err)
		}
		after := mimeparts.Leaves(out)
		checkSpans(t, out, after)
		if len(after) != len(before)+1 {
			t.Fatalf("%d leaves after, %d before", len(after), len(before))
		}
		h := parseHeader(data)
		if !inserted(data, out) && (!bytes.HasPrefix(out, data[:h.start]) || !bytes.Contains(out, data[h.body:])) {
			t.Fatalf("neither an insertion nor a wrap keeping the envelope line and body")
		}
	})
}

func FuzzTagSubject(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "[VIRUS]")
	}
	f.Add([]byte("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n"), "[☣]")
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		before := mimeparts.Leaves(data)
		out := TagSubject(data, tag)
		oneInsertion(t, data, out)
		if before != nil && leafNames(mimeparts.Leaves(out)) != leafNames(before) {
			t.Fatalf("TagSubject changed the parts")
		}
		clean := strings.Trim(strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == 0 {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(tag, "\uFFFD")), " \t")
		if clean != "" && !strings.Contains(tag, "=?") {
			if s := Header(out, "Subject"); !strings.HasPrefix(s, clean) {
				t.Fatalf("Subject %q does not start with %q", s, clean)
			}
		}
		out = AddHeaders(data, []string{"X-AVE-Tag: " + tag, "X-AVE: 1"})
		oneInsertion(t, data, out)
		if before != nil && leafNames(mimeparts.Leaves(out)) != leafNames(before) {
			t.Fatalf("AddHeaders changed the parts")
		}
		if Header(out, "X-AVE") != "1" && Header(data, "X-AVE") == "" {
			t.Fatalf("X-AVE not added")
		}
	})
}

// oneInsertion asserts that out is data with bytes inserted at one place.
func oneInsertion(t *testing.T, data, out []byte) {
	t.Helper()
	if !inserted(data, out) {
		t.Fatalf("not one insertion:\n%q\n%q", data, out)
	}
}

// inserted reports whether out is data with bytes inserted at one place.
func inserted(data, out []byte) bool {
	if len(out) < len(data) {
		return false
	}
	p := 0
	for p < len(data) && data[p] == out[p] {
		p++
	}
	return bytes.Equal(out[len(out)-(len(data)-p):], data[p:])
}
