package unpack

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
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
