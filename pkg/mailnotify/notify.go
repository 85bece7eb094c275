// Package mailnotify builds the notification messages of smtpscanner's
// mail policy (docs/POLICY.md, "Notifications"): the notice to the sender
// of a message, to each of its recipients and to the group's
// administrator.
//
// A notification is made from a template (sender.txt, recipient.txt,
// admin.txt; etc/templates/ holds the shipped text, which is also built
// into the package as the defaults): header lines ("Subject: ..." and
// optionally other "Name: value" lines), an empty line, the body. Macros
// %NAME% are replaced by the fields of Data (see Macros and Data); %% is a
// percent sign.
//
// Render makes a complete RFC 5322 message with CRLF line ends, marked
// "Auto-Submitted: auto-generated" (RFC 3834) and "X-AVE-Notification:
// KIND". Everything in Data may come from an attacker (the subject, header
// text, signature names of the scanned message): values are made valid
// UTF-8, control characters are removed, and in header lines line breaks
// become spaces, so no value can add a header line or a MIME part; long or
// non-ASCII header values are RFC 2047 encoded and folded.
//
// Suppress applies the loop rules (nothing about an automatic message,
// never to a null or daemon sender), Limiter caps the notifications of
// one message.
package mailnotify

import "time"

// Kind is the kind of a notification.
type Kind int

// The kinds of notifications.
const (
	Sender    Kind = iota // to the envelope sender of the message
	Recipient             // to one recipient of the message
	Admin                 // to the group's administrator
)

var kinds = [...]Kind{Sender, Recipient, Admin}

// String returns "sender", "recipient" or "admin": the value of the
// X-AVE-Notification header field.
func (k Kind) String() string {
	switch k {
	case Sender:
		return "sender"
	case Recipient:
		return "recipient"
	case Admin:
		return "admin"
	}
	return "unknown"
}

// File returns the template file name of the kind: "sender.txt",
// "recipient.txt" or "admin.txt".
func (k Kind) File() string { return k.String() + ".txt" }

func (k Kind) valid() bool { return k >= Sender && k <= Admin }

// Data are the facts about the scanned message a notification tells.
// Every field may hold attacker-controlled text.
type Data struct {
	QueueID    string    // %QUEUEID%
	MessageID  string    // %MESSAGEID%: the Message-ID of the scanned message
	Sender     string    // %SENDER%: envelope sender; "" is written "<>"
	Recipients []string  // %RECIPIENTS%: comma-separated (the recipient notification: the one recipient)
	Status     string    // %STATUS%, e.g. "INFECTED"
	Names      []string  // %VIRUSNAMES%: comma-separated signature names, "-" when none
	Action     string    // %ACTION%: what was done, e.g. "not delivered, kept in quarantine"
	Group      string    // %GROUP%
	Report     string    // %REPORT%: multi-line scan report
	Hostname   string    // %HOSTNAME%, and the domain of the notification's Message-ID
	Date       time.Time // %DATE% and the Date of the notification; zero: now
	// Header is the raw header block of the scanned message: %HEADERS%
	// (its lines as they are), %SUBJECT% and %HEADER:Name% (one field,
	// unfolded and RFC 2047 decoded; the first when there are several;
	// empty when absent).
	Header []byte
}

// Attachment is a part added to a notification.
//
// ContentType "message/rfc822" (an attached original or cured message) is
// sent as it is, Content-Transfer-Encoding 7bit or 8bit, when the message
// is a valid 8bit body: no NUL, every line ending in CRLF and at most 998
// bytes long (RFC 2046 allows only 7bit, 8bit or binary for
// message/rfc822, and binary cannot cross SMTP). Any other message (LF
// line ends, long lines, NUL bytes) is sent base64 as
// application/octet-stream under its file name (default "message.eml"),
// so it still arrives byte for byte. The caller announces BODY=8BITMIME
// when the rendered message has 8-bit bytes.
//
// A text/* attachment is sent 7bit when it is ASCII with CRLF lines of at
// most 998 bytes, else quoted-printable with its line breaks (LF, CR or
// CRLF) made CRLF, the canonical form of text. Any other type is sent
// 7bit when it is such ASCII text, else base64, byte for byte.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Limiter caps the notifications sent about one message.
type Limiter struct {
	max, sent int
}

// NewLimiter returns a Limiter allowing max notifications (MaxNotifications);
// max <= 0 allows none.
func NewLimiter(max int) *Limiter { return &Limiter{max: max} }

// Allow reports whether one more notification may be sent, and counts it.
func (l *Limiter) Allow() bool {
	if l.sent >= l.max {
		return false
	}
	l.sent++
	return true
}

// Sent returns how many notifications Allow allowed.
func (l *Limiter) Sent() int { return l.sent }
