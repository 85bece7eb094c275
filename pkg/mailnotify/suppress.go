package mailnotify

import (
	"strings"
)

// Suppress applies the loop and null rules to a scanned message, given
// its envelope sender and raw header block.
//
// all: no notification at all (sender, recipients, administrator) is sent
// about a message that is itself automatic: it has an Auto-Submitted field
// whose keyword is not "no" (RFC 3834; an empty or unreadable value counts
// as automatic), or an X-AVE-Notification field (a notification of ours or
// of another AVE). Only the first Auto-Submitted field is looked at.
//
// toSender: the sender notification may be sent. It is not sent to the
// null sender "" (a bounce), to a sender whose local part is a mail system
// address (MAILER-DAEMON, mailer_daemon, postmaster, double-bounce,
// owner-*, *-request, *-owner, *-bounces: RFC 3834 section 2 and the
// bounce and list senders of common MTAs and list managers), to an address
// without "@", or about a message marked as bulk or list mail
// (Precedence: bulk, junk or list; a List-Id field), whose sender is a
// list rather than a person. Recipients and the administrator are still
// notified in these cases.
//
// reason says why something is suppressed ("" when nothing is).
func Suppress(sender string, header []byte) (all bool, toSender bool, reason string) {
	fs := parseFields(header)
	if v, ok := lookup(fs, "Auto-Submitted"); ok {
		kw := keyword(v)
		if kw != "no" {
			if kw == "" {
				kw = "(empty)"
			}
			return true, false, "automatic message (Auto-Submitted: " + kw + ")"
		}
	}
	if _, ok := lookup(fs, "X-AVE-Notification"); ok {
		return true, false, "AVE notification (X-AVE-Notification)"
	}
	if sender == "" {
		return false, false, "null sender"
	}
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 {
		return false, false, "sender without domain"
	}
	local := strings.ToLower(strings.Trim(sender[:at], "\""))
	if base, _, ok := strings.Cut(local, "+"); ok && base != "" {
		local = base
	}
	switch {
	case local == "mailer-daemon" || local == "mailer_daemon" || local == "mailerdaemon" ||
		local == "postmaster" || local == "double-bounce":
		return false, false, "sender is a mail system address (" + local + ")"
	case strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") ||
		strings.HasSuffix(local, "-owner") || strings.HasSuffix(local, "-bounces"):
		return false, false, "sender is a mailing list address (" + local + ")"
	}
	if v, ok := lookup(fs, "Precedence"); ok {
		switch kw := keyword(v); kw {
		case "bulk", "junk", "list":
			return false, false, "bulk message (Precedence: " + kw + ")"
		}
	}
	if _, ok := lookup(fs, "List-Id"); ok {
		return false, false, "mailing list message (List-Id)"
	}
	return false, true, ""
}

// keyword returns the lower-case first word of a field value: comments
// and parameters (after "(" or ";") removed.
func keyword(v string) string {
	v = decodeValue(v)
	if i := strings.IndexAny(v, ";("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}
