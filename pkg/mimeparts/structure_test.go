package mimeparts

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"ave/pkg/filetype"
	"ave/pkg/unpack"
)

// walkNames returns the member names Walk yields for data under the
// default depth limit, and whether Walk stopped at that limit.
func walkNames(data []byte) (names []string, limited bool, mbox bool) {
	c := &unpack.Container{Data: data, Name: "m", Type: filetype.Mail, MaxDepth: unpack.DefaultLimits.MaxDepth}
	err := Walk(context.Background(), c, func(m unpack.Member) error {
		// The name the walker gives the member in scan paths; never
		// empty (an empty one would make it number members by position,
		// which depends on its depth limit).
		name := unpack.CleanName(m.Name)
		if name == "" {
			name = "(empty)"
		}
		names = append(names, name)
		return nil
	})
	return names, errors.Is(err, unpack.ErrLimit), len(splitMbox(data)) > 1 && strings.HasPrefix(string(data), "From ")
}

// checkLeaves asserts that Leaves agrees with Walk as the walker names
// its members in scan paths (what the mail policy matches scan findings
// against), and that its spans are
// sane: within data, in order, disjoint.
func checkLeaves(t *testing.T, data []byte) []Leaf {
	t.Helper()
	leaves := Leaves(data)
	want, limited, mbox := walkNames(data)
	if mbox {
		if leaves != nil {
			t.Fatalf("mbox of several messages: %d leaves, want none", len(leaves))
		}
		return nil
	}
	var got []string
	for _, l := range leaves {
		got = append(got, l.Name)
	}
	if limited {
		// Walk stopped at the depth limit; Leaves yielded the too deep
		// multipart as a leaf instead. The names before it agree.
		if len(got) == 0 || len(want) > len(got)-1 || strings.Join(got[:len(want)], "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("names at depth limit:\n Leaves %q\n Walk   %q", got, want)
		}
	} else if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
		t.Fatalf("names differ:\n Leaves %q\n Walk   %q", got, want)
	}
	prev := int64(0)
	for i, l := range leaves {
		if l.Start < prev || l.End < l.Start || l.End > int64(len(data)) || l.BodyStart < l.Start || l.BodyStart > l.End {
			t.Fatalf("leaf %d %+v out of order or bounds (prev end %d, len %d)", i, l, prev, len(data))
		}
		prev = l.End
		if l.Root != (l.Num == "") || (l.Root && len(leaves) != 1) {
			t.Fatalf("leaf %d %+v: Root wrong among %d leaves", i, l, len(leaves))
		}
	}
	return leaves
}

func TestLeavesStructure(t *testing.T) {
	msg := "From: a@example.org\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\npreamble\r\n" +
		"--B\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n--A\r\n\r\nplain\r\n--A\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--A--\r\n" +
		"--B\r\nContent-Type: application/octet-stream; name=\"x.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQ\r\n" +
		"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: c\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\ninner\r\n--C--\r\n" +
		"--B--\r\nepilogue\r\n"
	leaves := checkLeaves(t, []byte(msg))
	var got []string
	for _, l := range leaves {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%q", l.Num, l.Name, l.Filename, l.ContentType, msg[l.Start:l.End]))
	}
	want := []string{
		`1.1|1.1||text/plain|"\r\nplain"`,
		`1.2|1.2||text/html|"Content-Type: text/html\r\n\r\n<p>html</p>"`,
		`2|x.exe|x.exe|application/octet-stream|"Content-Type: application/octet-stream; name=\"x.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQ"`,
		`3|3||message/rfc822|"Content-Type: message/rfc822\r\n\r\nFrom: c\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\ninner\r\n--C--"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l := leaves[2]; msg[l.BodyStart:l.End] != "TVqQ" {
		t.Errorf("body of x.exe: %q", msg[l.BodyStart:l.End])
	}

	single := "From x@y Thu Jan  1 00:00:00 2026\nSubject: s\nContent-Type: application/pdf; name=a.pdf\n\n%PDF"
	leaves = checkLeaves(t, []byte(single))
	if len(leaves) != 1 || !leaves[0].Root || leaves[0].Name != "a.pdf" || single[leaves[0].Start:leaves[0].BodyStart] != "Subject: s\nContent-Type: application/pdf; name=a.pdf\n\n" {
		t.Fatalf("single part behind an mbox line: %+v", leaves)
	}
	if l := checkLeaves(t, []byte("Content-Type: multipart/mixed\r\n\r\nno boundary")); len(l) != 1 || l[0].Name != "body" || !l[0].Root {
		t.Fatalf("unusable multipart: %+v", l)
	}
	if l := checkLeaves(t, []byte("From a\nSubject: 1\n\nx\nFrom b\nSubject: 2\n\ny\n")); l != nil {
		t.Fatalf("mbox: %+v", l)
	}
}

// genEntity writes a random entity: nested multiparts with and without
// closing delimiters, named and unnamed leaves, broken headers, digests
// and message/rfc822 parts, with CRLF or LF line ends.
func genEntity(r *rand.Rand, b *strings.Builder, nl string, depth int) {
	names := []string{"a.exe", "b.txt", "=?utf-8?q?c=C3=A9.doc?=", `dir\evil.zip`, "", "", "."}
	kind := r.IntN(10)
	if depth > 20 {
		kind = 9
	}
	switch {
	case kind < 4:
		bnd := fmt.Sprintf("b%d_%d", depth, r.IntN(100))
		sub := []string{"mixed", "alternative", "digest", "related"}[r.IntN(4)]
		if r.IntN(8) == 0 {
			fmt.Fprintf(b, "Content-Type: multipart/%s%s%s", sub, nl, nl) // no boundary
		} else {
			fmt.Fprintf(b, "Content-Type: multipart/%s;%s boundary=\"%s\"%s%s", sub, nl, bnd, nl, nl)
		}
		if r.IntN(3) == 0 {
			b.WriteString("preamble" + nl)
		}
		n := r.IntN(4)
		for i := 0; i < n; i++ {
			b.WriteString("--" + bnd + nl)
			genEntity(r, b, nl, depth+1)
			b.WriteString(nl)
		}
		switch r.IntN(4) {
		case 0: // unclosed
		case 1:
			b.WriteString("--" + bnd + "--")
		default:
			b.WriteString("--" + bnd + "--" + nl + "epilogue" + nl)
		}
	case kind == 4:
		b.WriteString("Content-Type: message/rfc822" + nl + nl + "Subject: inner" + nl + nl + "text" + nl)
	case kind == 5:
		b.WriteString("broken header line" + nl + "Content-Type: text/plain" + nl + nl + "x")
	case kind == 6:
		b.WriteString(nl + "no header" + nl)
	default:
		name := names[r.IntN(len(names))]
		if name != "" {
			if r.IntN(2) == 0 {
				fmt.Fprintf(b, "Content-Type: application/octet-stream; name=\"%s\"%s", name, nl)
			} else {
				fmt.Fprintf(b, "Content-Disposition: attachment;%s\tfilename=\"%s\"%s", nl, name, nl)
			}
		}
		if r.IntN(2) == 0 {
			b.WriteString("Content-Transfer-Encoding: base64" + nl)
		}
		b.WriteString(nl + "QUJD" + nl + "REVG")
	}
}

func TestLeavesNamesEqualWalkGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		nl := "\r\n"
		if i%3 == 0 {
			nl = "\n"
		}
		var b strings.Builder
		if i%17 == 0 {
			b.WriteString("From sender Thu Jan  1 00:00:00 2026" + nl)
		}
		b.WriteString("From: a@example.org" + nl + "Subject: t" + nl)
		genEntity(r, &b, nl, 0)
		checkLeaves(t, []byte(b.String()))
	}
}

func TestLeavesDepthLimit(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=d%d\n\n--d%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain; name=deep.txt\n\nx\n")
	leaves := checkLeaves(t, []byte(b.String()))
	if len(leaves) != 1 || leaves[0].Root {
		t.Fatalf("%+v", leaves)
	}
}

func FuzzLeavesNames(f *testing.F) {
	f.Add([]byte(mail(attachment("eicar.com", "application/octet-stream", eicar))))
	f.Add([]byte("Subject: x\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: y\n\n!!!!\n--d--"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b"))
	f.Add([]byte("From x\nFrom: a\n\nFrom y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLeaves(t, data)
	})
}

// TestPartsWhoseNameCleansToNothingAreNumbered: a part named " . " (an
// empty name once cleaned) is named by its part number in Leaves and in
// the walk alike, so the name does not depend on how many members a walk
// with another depth limit went through.
func TestPartsWhoseNameCleansToNothingAreNumbered(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\" . \"\r\n\r\nx\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\"/\"\r\n\r\ny\r\n--b--\r\n"
	leaves := checkLeaves(t, []byte(msg))
	var names []string
	for _, l := range leaves {
		names = append(names, l.Name)
	}
	if strings.Join(names, ",") != "1,2,3" {
		t.Fatalf("names %q", names)
	}
}
