package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// genCtx carries one file's random stream and what the generator reports.
type genCtx struct {
	r      *rnd
	tg     *textGen
	member *memberHash // first member of a zip, for hash-member signatures
}

func newGenCtx(r *rnd) *genCtx { return &genCtx{r: r, tg: newTextGen(r)} }

// baseTime anchors every generated date, so output never depends on the clock.
var baseTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func (c *genCtx) date() time.Time {
	return baseTime.Add(-time.Duration(c.r.IntN(400*24*3600)) * time.Second)
}

func genEicar(c *genCtx, size int, plants [][]byte) []byte { return []byte(eicar) }

func genText(c *genCtx, size int, plants [][]byte) []byte {
	b := make([]byte, 0, size+1024)
	title := c.tg.title()
	b = append(b, title...)
	b = append(b, '\n')
	b = append(b, strings.Repeat("=", len(title))...)
	b = append(b, "\n\n"...)
	for len(b) < size {
		if c.r.IntN(6) == 0 {
			b = append(b, c.tg.title()...)
			b = append(b, "\n\n"...)
		}
		b = c.tg.paragraph(b, 72)
		b = append(b, "\n\n"...)
		if c.r.IntN(10) == 0 {
			for range c.r.between(2, 6) {
				b = append(b, "  - "...)
				b = c.tg.sentence(b)
				b = append(b, '\n')
			}
			b = append(b, '\n')
		}
	}
	return plantInto(c.r, b, len(title), plants, true)
}

func genCSV(c *genCtx, size int, plants [][]byte) []byte {
	b := make([]byte, 0, size+256)
	b = append(b, "id,date,name,email,amount,currency,status,comment\n"...)
	statuses := []string{"paid", "open", "overdue", "cancelled", "refunded"}
	for id := 1; len(b) < size; id++ {
		name, addr := c.tg.person()
		b = fmt.Appendf(b, "%d,%s,%s,%s,%d.%02d,%s,%s,\"", id+10000, c.date().Format("2006-01-02"),
			name, addr, c.r.IntN(20000), c.r.IntN(100), pick(c.r, []string{"EUR", "USD", "GBP"}), pick(c.r, statuses))
		b = c.tg.sentence(b)
		b = append(b, "\"\n"...)
	}
	return plantInto(c.r, b, 60, plants, true)
}

var hostParts = []string{"mail", "mx", "smtp", "relay", "out", "web", "gw"}

func (c *genCtx) ip() string {
	nets := []string{"192.0.2.", "198.51.100.", "203.0.113."}
	return fmt.Sprintf("%s%d", pick(c.r, nets), c.r.between(1, 254))
}

func (c *genCtx) queueID() string {
	const hexd = "0123456789ABCDEF"
	b := make([]byte, 10)
	for i := range b {
		b[i] = hexd[c.r.IntN(16)]
	}
	return string(b)
}

// genLog writes a mail log (Postfix and amavis lines) or a web access log.
func genLog(c *genCtx, size int, plants [][]byte) []byte {
	b := make([]byte, 0, size+512)
	t := c.date()
	web := c.r.IntN(3) == 0
	paths := []string{"/", "/index.html", "/login", "/api/v1/items", "/static/app.js", "/static/site.css",
		"/images/logo.png", "/search?q=", "/account/settings", "/download/report.pdf"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"curl/8.5.0", "Wget/1.21.3", "Googlebot/2.1 (+http://www.google.com/bot.html)"}
	for len(b) < size {
		t = t.Add(time.Duration(c.r.IntN(3000)) * time.Millisecond)
		if web {
			p := pick(c.r, paths)
			if strings.HasSuffix(p, "=") {
				p += c.tg.word()
			}
			b = fmt.Appendf(b, "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\"\n", c.ip(),
				t.Format("02/Jan/2006:15:04:05 -0700"), pick(c.r, []string{"GET", "GET", "GET", "POST", "HEAD"}), p,
				pick(c.r, []int{200, 200, 200, 304, 404, 302, 500}), c.r.IntN(90000), pick(c.r, agents))
			continue
		}
		ts := t.Format("Jan _2 15:04:05")
		q := c.queueID()
		pid := c.r.between(1000, 65000)
		_, from := c.tg.person()
		_, to := c.tg.person()
		host := fmt.Sprintf("%s%d.%s", pick(c.r, hostParts), c.r.IntN(20), pick(c.r, domains))
		ip := c.ip()
		b = fmt.Appendf(b, "%s mx1 postfix/smtpd[%d]: connect from %s[%s]\n", ts, pid, host, ip)
		b = fmt.Appendf(b, "%s mx1 postfix/smtpd[%d]: %s: client=%s[%s]\n", ts, pid, q, host, ip)
		b = fmt.Appendf(b, "%s mx1 postfix/cleanup[%d]: %s: message-id=<%s@%s>\n", ts, pid+3, q, c.queueID(), pick(c.r, domains))
		sz := c.r.logUniform(800, 5_000_000)
		b = fmt.Appendf(b, "%s mx1 postfix/qmgr[1021]: %s: from=<%s>, size=%d, nrcpt=1 (queue active)\n", ts, q, from, sz)
		if c.r.IntN(4) == 0 {
			b = fmt.Appendf(b, "%s mx1 amavis[%d]: (%05d-%02d) Passed CLEAN {RelayedInbound}, [%s]:%d <%s> -> <%s>, Queue-ID: %s, size: %d, %d ms\n",
				ts, pid+7, c.r.IntN(99999), c.r.IntN(99), ip, c.r.between(1024, 65535), from, to, q, sz, c.r.between(20, 4000))
		}
		b = fmt.Appendf(b, "%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=127.0.0.1[127.0.0.1]:10024, delay=%d.%02d, delays=0.1/0/0.01/%d.%d, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as %s)\n",
			ts, pid+11, q, to, c.r.IntN(5), c.r.IntN(100), c.r.IntN(5), c.r.IntN(10), c.queueID())
		b = fmt.Appendf(b, "%s mx1 postfix/qmgr[1021]: %s: removed\n", ts, q)
		if c.r.IntN(8) == 0 {
			b = fmt.Appendf(b, "%s mx1 postfix/smtpd[%d]: disconnect from %s[%s] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7\n", ts, pid, host, ip)
		}
	}
	return plantInto(c.r, b, 0, plants, true)
}

// genHTML writes a web page with styles, navigation, sections, tables and
// inline script.
func genHTML(c *genCtx, size int, plants [][]byte) []byte {
	b := make([]byte, 0, size+2048)
	title := c.tg.title()
	b = fmt.Appendf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", title)
	b = append(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>\n"...)
	for range c.r.between(5, 30) {
		b = fmt.Appendf(b, ".%s-%s { margin: %dpx %dpx; color: #%06x; font-size: %d%%; }\n",
			c.tg.word(), c.tg.word(), c.r.IntN(40), c.r.IntN(40), c.r.IntN(1<<24), c.r.between(80, 160))
	}
	b = append(b, "</style>\n</head>\n<body>\n<header><nav><ul>\n"...)
	for range c.r.between(3, 9) {
		w := c.tg.word()
		b = fmt.Appendf(b, "  <li><a href=\"/%s/%s.html\">%s</a></li>\n", w, c.tg.word(), strings.ToUpper(w[:1])+w[1:])
	}
	b = fmt.Appendf(b, "</ul></nav></header>\n<main>\n<h1>%s</h1>\n", title)
	bodyStart := len(b)
	for len(b) < size {
		switch c.r.IntN(8) {
		case 0:
			b = append(b, "<table class=\"data\">\n<tr><th>Item</th><th>Date</th><th>Amount</th></tr>\n"...)
			for range c.r.between(3, 30) {
				b = fmt.Appendf(b, "<tr><td>%s</td><td>%s</td><td>%d.%02d</td></tr>\n",
					c.tg.word(), c.date().Format("2006-01-02"), c.r.IntN(9999), c.r.IntN(100))
			}
			b = append(b, "</table>\n"...)
		case 1:
			b = append(b, "<ul>\n"...)
			for range c.r.between(2, 8) {
				b = append(b, "  <li>"...)
				b = c.tg.sentence(b)
				b = append(b, "</li>\n"...)
			}
			b = append(b, "</ul>\n"...)
		case 2:
			fn := c.tg.word() + strings.ToUpper(c.tg.word()[:1])
			b = fmt.Appendf(b, "<script>\nfunction %s(el) {\n  var n = el.dataset.count || 0;\n  for (var i = 0; i < n; i++) {\n    el.children[i].classList.toggle(\"%s\");\n  }\n  return fetch(\"/api/%s?id=\" + encodeURIComponent(el.id)).then(function (r) { return r.json(); });\n}\n</script>\n",
				fn, c.tg.word(), c.tg.word())
		case 3:
			b = fmt.Appendf(b, "<h2 id=\"%s\">%s</h2>\n", c.tg.word(), c.tg.title())
		default:
			b = append(b, "<p>"...)
			b = c.tg.paragraph(b, 0)
			b = append(b, "</p>\n"...)
		}
	}
	b = append(b, "</main>\n<footer><p>&copy; 2026 Example Corp.</p></footer>\n</body>\n</html>\n"...)
	return plantInto(c.r, b, bodyStart, plants, true)
}

// base64Lines appends data in base64, 76 columns, LF line ends.
func base64Lines(b []byte, data []byte) []byte {
	enc := base64.StdEncoding
	var line [76]byte
	for len(data) > 0 {
		n := min(57, len(data))
		enc.Encode(line[:], data[:n])
		b = append(b, line[:enc.EncodedLen(n)]...)
		b = append(b, '\n')
		data = data[n:]
	}
	return b
}

type attachKind struct {
	k      kind
	ctype  string
	ext    string
	weight int
}

var attachKinds = []attachKind{
	{kPDF, "application/pdf", ".pdf", 30},
	{kDOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx", 15},
	{kXLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx", 8},
	{kJPEG, "image/jpeg", ".jpg", 20},
	{kPNG, "image/png", ".png", 8},
	{kZip, "application/zip", ".zip", 10},
	{kPE, "application/octet-stream", ".exe", 3},
	{kText, "text/plain", ".txt", 6},
}

// genEML writes a MIME message: a text part, sometimes an HTML alternative,
// and base64 attachments that make up most of the size. Planted bytes go
// into an attachment, so only a scanner that decodes MIME sees them.
func genEML(c *genCtx, size int, plants [][]byte) []byte {
	b := make([]byte, 0, size+4096)
	fromName, from := c.tg.person()
	toName, to := c.tg.person()
	d := c.date()
	subject := c.tg.title()
	relay := fmt.Sprintf("%s%d.%s", pick(c.r, hostParts), c.r.IntN(20), pick(c.r, domains))
	b = fmt.Appendf(b, "Return-Path: <%s>\n", from)
	b = fmt.Appendf(b, "Received: from %s (%s [%s])\n\tby mx1.example.com (Postfix) with ESMTPS id %s\n\tfor <%s>; %s\n",
		relay, relay, c.ip(), c.queueID(), to, d.Format(time.RFC1123Z))
	b = fmt.Appendf(b, "From: %s <%s>\nTo: %s <%s>\nSubject: %s\nDate: %s\nMessage-ID: <%s.%s@%s>\nMIME-Version: 1.0\n",
		fromName, from, toName, to, subject, d.Format(time.RFC1123Z), c.queueID(), c.queueID(), pick(c.r, domains))

	bound := fmt.Sprintf("----=_Part_%d_%d.%d", c.r.IntN(100000), c.r.IntN(1<<30), d.Unix())
	text := c.tg.prose(nil, c.r.logUniform(300, 6000), 72)

	withAttach := len(plants) > 0 || size > 12_000
	if !withAttach {
		b = append(b, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"...)
		b = append(b, text...)
		return b
	}
	b = fmt.Appendf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\nThis is a multi-part message in MIME format.\n\n", bound)
	b = fmt.Appendf(b, "--%s\n", bound)
	if c.r.IntN(2) == 0 {
		alt := bound + "_alt"
		b = fmt.Appendf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n--%s\n", alt, alt)
		b = fmt.Appendf(b, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n--%s\n", text, alt)
		b = fmt.Appendf(b, "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n<html><body><p>%s</p></body></html>\n--%s--\n\n",
			strings.ReplaceAll(string(text), "\n\n", "</p>\n<p>"), alt)
	} else {
		b = fmt.Appendf(b, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", text)
	}

	// The attachments share what is left of the size, after base64 (4/3
	// plus a newline every 76 characters).
	left := (size - len(b)) * 57 / 77
	nAtt := 1
	if left > 200_000 && c.r.IntN(3) == 0 {
		nAtt = c.r.between(2, 4)
	}
	for i := range nAtt {
		ak := weightedAttach(c.r)
		var pl [][]byte
		if i == 0 && len(plants) > 0 {
			// Plants need an attachment that keeps them as plain bytes.
			ak = attachKinds[len(attachKinds)-1-c.r.IntN(2)]
			pl = plants
		}
		n := max(left/nAtt, 1500)
		data := kinds[ak.k].gen(c, n, pl)
		name := c.tg.word() + "_" + c.tg.word() + ak.ext
		b = fmt.Appendf(b, "--%s\nContent-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n",
			bound, ak.ctype, name, name)
		b = base64Lines(b, data)
		b = append(b, '\n')
	}
	b = fmt.Appendf(b, "--%s--\n", bound)
	return b
}

func weightedAttach(r *rnd) attachKind {
	total := 0
	for _, a := range attachKinds {
		total += a.weight
	}
	x := r.IntN(total)
	for _, a := range attachKinds {
		x -= a.weight
		if x < 0 {
			return a
		}
	}
	return attachKinds[0]
}
