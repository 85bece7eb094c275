package unpack

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

func TestHTMLDataURIsAreDecoded(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(eicar)
	wrapped := b64[:40] + "\r\n  " + b64[40:]
	page := fmt.Sprintf(`<html><body><img src="data:image/png;base64,%s">`+
		`<a href='data:application/octet-stream;name=x.com;base64,%s'>x</a>`+
		`<div style="background:url(data:,%s)"></div>`+
		`<iframe src="DATA:text/html;charset=utf-8,%s"></iframe></body></html>`,
		base64.StdEncoding.EncodeToString([]byte("not a png")), wrapped,
		url.PathEscape("plain text"), url.PathEscape(string(eicar)))
	var names []string
	err := walkHTML(context.Background(), &Container{Data: []byte(page)}, func(m Member) error {
		names = append(names, m.Name+"="+string(m.Data))
		return nil
	})
	if err != nil || len(names) != 4 || names[2] != "data-uri-3=plain text" {
		t.Fatalf("err %v members %q", err, names)
	}
	res := walk("p.html", []byte(page), Limits{})
	wantDetection(t, res, "p.html/data-uri-2", verdict.Infected, "")
	wantDetection(t, res, "p.html/data-uri-4", verdict.Infected, "")
}

func TestHTMLCharacterReferencesAreDecoded(t *testing.T) {
	var b strings.Builder
	for _, c := range string(eicar) {
		fmt.Fprintf(&b, "&#x%x;", c)
	}
	page := "<html><body>" + b.String() + "</body></html>"
	res := walk("e.html", []byte(page), Limits{})
	wantDetection(t, res, "e.html/html-unescaped", verdict.Infected, "")
}

func TestHTMLCleanIsClean(t *testing.T) {
	res := walk("c.html", []byte(`<html><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></html>`), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkHTML(f *testing.F) {
	f.Add([]byte(`<html><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><a href="data:,a%20b">&#65;</a></html>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.html", data)
	})
}

// htmlDataURIRefRe is the regular expression nextDataURI implements; the
// tests check the two agree.
var htmlDataURIRefRe = regexp.MustCompile(`(?i)data:([a-z0-9!#$&^_.+/-]{0,100})((?:;[a-z0-9=._+-]{0,100}){0,8}),([^"'<>()]*)`)

// checkHTMLScanners compares nextDataURI with htmlDataURIRefRe and
// htmlUnescape with html.UnescapeString on d.
func checkHTMLScanners(t *testing.T, d []byte) {
	t.Helper()
	want := htmlDataURIRefRe.FindAllSubmatchIndex(d, -1)
	var got [][]int
	for from := 0; ; {
		m, ok := nextDataURI(d, from)
		if !ok {
			break
		}
		got = append(got, []int{m.start, m.end, m.start + 5, m.params, m.params, m.payload - 1, m.payload, m.end})
		from = m.end
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d data: URIs, the regexp finds %d: %v / %v", d, len(got), len(want), got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("%q: data: URI %d at %v, the regexp says %v", d, i, got[i], want[i])
		}
	}
	wantText := html.UnescapeString(string(d))
	gotText := htmlUnescape(d)
	if gotText == nil {
		gotText = d
	}
	if string(gotText) != wantText {
		t.Fatalf("%q: unescaped %q, html.UnescapeString gives %q", d, gotText, wantText)
	}
}

func TestHTMLScannersMatchReference(t *testing.T) {
	cases := []string{
		"", "data:", "data:,", "DATA:,x", "dAtA:text/html,<b>", "xdata:,a", "data:;base64,QUJD",
		"data:" + strings.Repeat("a", 100) + ",x", "data:" + strings.Repeat("a", 101) + ",x",
		"data:a" + strings.Repeat(";p", 8) + ",x", "data:a" + strings.Repeat(";p", 9) + ",x",
		"data:a;" + strings.Repeat("b", 100) + ",x", "data:a;" + strings.Repeat("b", 101) + ",x",
		"data:\u212a;\u017f,kelvin", "data:" + strings.Repeat("\u212a", 100) + ",k", "data:" + strings.Repeat("\u212a", 101) + ",k",
		"data:a=b,x", "data:data:,x", "data:,a data:,b\"data:,c", "data:a;b=c;d,payload'rest",
		"&#65;", "&#65", "&#6", "&#", "&#;", "&#x41;&#X42", "&amp;&lt;&gt;&notit;&notin;", "&#65&#66;",
		"a &#9", "a &#9 b", "&#128;&#0;&#xD800;&#x110000;", "&&#65;&", "&#65a;", "&#x4g;", "&ampx &amp",
		"&NotEqualTilde;", "&acE;", "&#5;", "&#5 ", "&#5&", "\xff&#65;\xfe data:\xe2\x84,x",
	}
	for _, c := range cases {
		checkHTMLScanners(t, []byte(c))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"data:", "DaTa:", "d", "a", "t", ":", ";", ",", "=", "base64", "\"", "'", "<", ">", "(", ")",
		" ", "\n", "/", "-", "_", "&", "#", "x", "X", "1", "9", ";", "amp", "lt", "not", "\u212a", "\u017f", "\xe2", "\xff", "é", "%41"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(50) == 0 {
				p = strings.Repeat(p, 90+rng.IntN(20))
			}
			b.WriteString(p)
		}
		checkHTMLScanners(t, []byte(b.String()))
	}
}

func FuzzHTMLScanners(f *testing.F) {
	f.Add([]byte(`<a href="data:text/plain;charset=utf-8;base64,QUJD">&#65;&amp;</a>`))
	f.Fuzz(func(t *testing.T, d []byte) {
		checkHTMLScanners(t, d)
	})
}

// TestHTMLUnescapedOnlyWhenChanged: "&#" that decodes nothing yields no
// html-unescaped copy (its bytes are the document's); a named reference
// beside it still counts as a change.
func TestHTMLUnescapedOnlyWhenChanged(t *testing.T) {
	for page, want := range map[string]string{
		"<html>C&#; and &#x</html>":    "",
		"<html>&#; &amp; &#65</html>":  "<html>&#; & A</html>",
		"<html>&#65;&#x42;&#67</html>": "<html>ABC</html>",
	} {
		var got string
		err := walkHTML(context.Background(), &Container{Data: []byte(page)}, func(m Member) error {
			got = string(m.Data)
			return nil
		})
		if err != nil || got != want {
			t.Errorf("%q: html-unescaped %q, want %q (err %v)", page, got, want, err)
		}
	}
}
