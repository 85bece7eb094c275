package smtp

// AVE PATCH (XFORWARD): this file, and the lines marked "AVE PATCH" in
// parse.go, conn.go and server.go, add Postfix's XFORWARD command
// (https://www.postfix.org/XFORWARD_README.html) to go-smtp v0.25.1,
// which has no hook for extra verbs or EHLO keywords. Upstream PR #291
// adds it as a breaking Session change; this keeps it optional.

import (
	"strings"
)

// xforwardAttrs are the attributes advertised in EHLO/LHLO.
var xforwardAttrs = []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"}

// XForwardSession is implemented by sessions that accept XFORWARD
// attributes. XForward is called once per XFORWARD command, before MAIL,
// with the attributes of that command (upper-case names, xtext-decoded
// values; "[UNAVAILABLE]" and "[TEMPUNAVAIL]" are passed as they are).
// Attributes apply to the next mail transaction; the session forgets
// them on Reset.
type XForwardSession interface {
	Session
	XForward(attrs map[string]string) error
}

func (c *Conn) handleXForward(arg string) {
	if !c.server.EnableXFORWARD {
		c.writeResponse(502, EnhancedCode{5, 5, 1}, "XFORWARD command not implemented")
		return
	}
	if c.session == nil {
		c.writeResponse(503, EnhancedCode{5, 5, 1}, "Error: send HELO/EHLO first")
		return
	}
	if c.fromReceived {
		c.writeResponse(503, EnhancedCode{5, 5, 1}, "Error: XFORWARD not allowed within transaction")
		return
	}
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		c.writeResponse(501, EnhancedCode{5, 5, 4}, "Syntax: XFORWARD attribute=value...")
		return
	}
	attrs := make(map[string]string, len(fields))
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		k = strings.ToUpper(k)
		known := false
		for _, a := range xforwardAttrs {
			known = known || a == k
		}
		if !ok || !known {
			c.writeResponse(501, EnhancedCode{5, 5, 4}, "Bad XFORWARD attribute: "+k)
			return
		}
		dv, err := decodeXtext(v)
		if err != nil {
			c.writeResponse(501, EnhancedCode{5, 5, 4}, "Malformed XFORWARD value for "+k)
			return
		}
		attrs[k] = dv
	}
	if s, ok := c.Session().(XForwardSession); ok {
		if err := s.XForward(attrs); err != nil {
			c.writeError(501, EnhancedCode{5, 5, 4}, err)
			return
		}
	}
	c.writeResponse(250, EnhancedCode{2, 0, 0}, "Ok")
}
