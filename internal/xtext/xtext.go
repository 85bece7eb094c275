// Package xtext encodes the values of SMTP's DSN parameters: xtext
// (RFC 3461 section 4: ENVID, ORCPT of type rfc822) and RFC 6533's
// utf-8-addr-xtext (ORCPT of type utf-8, and utf-8 addresses in a DSN's
// delivery-status fields).
package xtext

import (
	"fmt"
	"strings"
)

// Encode writes s as xtext: printable ASCII but "+" and "=" as it is,
// every other byte as "+XX".
func Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UTF8Addr writes s as utf-8-addr-xtext (RFC 6533 section 3): printable
// ASCII but "+", "=" and "\" as it is, every other character as
// \x{HEX} of its code point (bytes that are not UTF-8 as U+FFFD). It fits
// any server, with SMTPUTF8 or without; xtext's "+XX" is not allowed
// there.
func UTF8Addr(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > ' ' && r < 0x7f && r != '+' && r != '=' && r != '\\' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\x{%02X}", r)
		}
	}
	return b.String()
}

// IsASCII reports whether s is printable ASCII (no controls, no spaces
// needed to be said otherwise: bytes 0x20-0x7e).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
