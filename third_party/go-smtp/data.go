package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

type EnhancedCode [3]int

// SMTPError specifies the error code, enhanced error code (if any) and
// message returned by the server.
type SMTPError struct {
	Code         int
	EnhancedCode EnhancedCode
	Message      string
}

// NoEnhancedCode is used to indicate that enhanced error code should not be
// included in response.
//
// Note that RFC 2034 requires an enhanced code to be included in all 2xx, 4xx
// and 5xx responses. This constant is exported for use by extensions, you
// should probably use EnhancedCodeNotSet instead.
var NoEnhancedCode = EnhancedCode{-1, -1, -1}

// EnhancedCodeNotSet is a nil value of EnhancedCode field in SMTPError, used
// to indicate that backend failed to provide enhanced status code. X.0.0 will
// be used (X is derived from error code).
var EnhancedCodeNotSet = EnhancedCode{0, 0, 0}

func (err *SMTPError) Error() string {
	s := fmt.Sprintf("SMTP error %03d", err.Code)
	if err.Message != "" {
		s += ": " + err.Message
	}
	return s
}

func (err *SMTPError) Temporary() bool {
	return err.Code/100 == 4
}

var ErrDataTooLarge = &SMTPError{
	Code:         552,
	EnhancedCode: EnhancedCode{5, 3, 4},
	Message:      "Maximum message size exceeded",
}

type dataReader struct {
	r     *bufio.Reader
	state int

	limited bool
	n       int64 // Maximum bytes remaining
}

func newDataReader(c *Conn) *dataReader {
	dr := &dataReader{
		r: c.text.R,
	}

	if c.server.MaxMessageBytes > 0 {
		dr.limited = true
		dr.n = int64(c.server.MaxMessageBytes)
	}

	return dr
}

// Run data through a simple state machine to elide leading dots and
// detect the End-of-Data (<CR><LF>.<CR><LF>) line. The states are those of
// net/textproto's dotReader, with one modification: CRLF is not rewritten
// to LF.
const (
	stateBeginLine = iota // beginning of line; initial state; must be zero
	stateDot              // read . at beginning of line
	stateDotCR            // read .\r at beginning of line
	stateCR               // read \r (possibly at end of line)
	stateData             // reading data in middle of line
	stateEOF              // reached .\r\n end marker line
)

// Read implements io.Reader.
//
// AVE PATCH (bulk DATA reader): upstream feeds every byte through the state
// machine with bufio.Reader.ReadByte. This version works on the bytes
// already buffered (Peek/Discard): in the middle of a line (stateData) only
// a CR can change the state, so everything up to the next CR is copied in
// one go (bytes.IndexByte); the other states take one byte at a time as
// before. The output is byte for byte the same as upstream's, and nothing
// past the end-of-data line is consumed (pipelined commands stay in the
// buffer). Unlike upstream it returns what it has instead of blocking for
// more input once the buffer is drained (n > 0), as io.Reader allows.
func (r *dataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}

	for n < len(b) && r.state != stateEOF {
		if r.r.Buffered() == 0 {
			if n > 0 {
				break // return what we have rather than wait
			}
			if _, err = r.r.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				break
			}
		}
		buf, _ := r.r.Peek(r.r.Buffered())
		i := 0 // bytes of buf consumed
		for i < len(buf) && n < len(b) && r.state != stateEOF {
			if r.state == stateData {
				chunk := buf[i:]
				if room := len(b) - n; len(chunk) > room {
					chunk = chunk[:room]
				}
				if j := bytes.IndexByte(chunk, '\r'); j >= 0 {
					chunk = chunk[:j+1]
					r.state = stateCR
				}
				n += copy(b[n:], chunk)
				i += len(chunk)
				continue
			}
			c := buf[i]
			i++
			switch r.state {
			case stateBeginLine:
				if c == '.' {
					r.state = stateDot
					continue
				}
				if c == '\r' {
					r.state = stateCR
					break
				}
				r.state = stateData
			case stateDot:
				if c == '\r' {
					r.state = stateDotCR
					continue
				}
				r.state = stateData
			case stateDotCR:
				if c == '\n' {
					r.state = stateEOF
					continue
				}
				r.state = stateData
			case stateCR:
				if c == '\n' {
					r.state = stateBeginLine
					break
				}
				r.state = stateData
			}
			b[n] = c
			n++
		}
		r.r.Discard(i)
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}

	if r.limited {
		r.n -= int64(n)
	}
	return
}
