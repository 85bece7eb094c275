package mimeparts

import (
	"bytes"
	"strconv"
	"strings"

	"ave/pkg/unpack"
)

// Leaf is one leaf entity of a message as Walk sees it: the part that Walk
// yields as the member Name. Offsets are byte offsets in the data given to
// Leaves.
type Leaf struct {
	// Num is the dotted MIME part number ("1", "2.1"); "" for the
	// message's own body.
	Num string
	// Name is the member name Walk yields for this part: its file name,
	// else its part number, "1" for a single-part message and "body" for
	// a message whose multipart structure could not be used.
	Name string
	// Filename is the declared file name (as Walk reads it), or "".
	Filename string
	// ContentType is the declared media type in lower case, or the
	// default Walk uses ("text/plain", "message/rfc822" in a digest).
	ContentType string
	// Start and End delimit the whole entity, header and body, as the
	// enclosing multipart delimits it: End stops before the line break
	// that belongs to the next delimiter line.
	Start, End int64
	// BodyStart is where the entity's body starts (End when it has none).
	BodyStart int64
	// Root is true when the leaf is the message's own body: it cannot be
	// removed on its own. Its Start is 0, or the start of the line after
	// an mbox "From " envelope line.
	Root bool
}

// Leaves returns the leaf parts of a message in the order Walk yields them,
// with the same names: it recurses into multipart/* parts exactly like Walk
// (same header and delimiter leniency), and message/rfc822 parts are
// leaves (Walk hands them on whole). An mbox of several messages has no
// leaves (Walk yields whole messages for it); a single message behind an
// mbox "From " line is walked like Walk does.
//
// Where Walk stops with ErrLimit (multiparts nested deeper than the
// default MaxDepth of unpack.DefaultLimits), Leaves does not descend
// further: the too deep multipart is one leaf named by its part number.
func Leaves(raw []byte) []Leaf {
	data := raw
	if bytes.HasPrefix(data, []byte("From ")) {
		if len(splitMbox(data)) > 1 {
			return nil
		}
		data = data[lineEnd(data, 0):]
	}
	s := &structure{cap: cap(raw), maxNest: unpack.DefaultLimits.MaxDepth}
	s.entity(data, "", 0, "text/plain")
	return s.leaves
}

type structure struct {
	cap     int
	maxNest int
	leaves  []Leaf
}

// off is the offset of sub in the data Leaves was given: every entity is a
// sub-slice of it sharing its end of capacity.
func (s *structure) off(sub []byte) int64 { return int64(s.cap - cap(sub)) }

// entity mirrors walker.entity without decoding anything.
func (s *structure) entity(raw []byte, num string, nest int, defaultType string) {
	h, body, _ := splitHeader(raw)
	ctype := h.contentType
	if strings.TrimSpace(ctype) == "" {
		ctype = defaultType
	}
	mt, params, _ := parseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		boundary := params["boundary"]
		var parts [][]byte
		if boundary != "" {
			parts, _ = splitMultipart(body, boundary)
		}
		if len(parts) == 0 || 1+nest > s.maxNest {
			// Walk yields the unusable multipart raw (or stops, when
			// nested too deep).
			s.leaf(raw, body, num, fallbackName(num), partName(h), mt)
			return
		}
		childType := "text/plain"
		if mt == "multipart/digest" {
			childType = "message/rfc822"
		}
		for i, p := range parts {
			childNum := strconv.Itoa(i + 1)
			if num != "" {
				childNum = num + "." + childNum
			}
			s.entity(p, childNum, nest+1, childType)
		}
		return
	}
	file := partName(h)
	name := file
	if unpack.CleanName(name) == "" {
		name = num
		if name == "" {
			name = "1"
		}
	}
	s.leaf(raw, body, num, name, file, mt)
}

func (s *structure) leaf(raw, body []byte, num, name, file, mt string) {
	// As the walker names the member in scan paths (unpack.Walker.member
	// cleans it; entity gave a part number when cleaning leaves nothing).
	name = unpack.CleanName(name)
	s.leaves = append(s.leaves, Leaf{
		Num:         num,
		Name:        name,
		Filename:    file,
		ContentType: mt,
		Start:       s.off(raw),
		End:         s.off(raw) + int64(len(raw)),
		BodyStart:   s.off(body),
		Root:        num == "",
	})
}
