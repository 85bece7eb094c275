// Package verdict defines the outcome of a scan: the status of each object,
// the detections, and the roll-up of a whole scan. It is a leaf package: it
// imports nothing of the project, and every other package speaks its types.
package verdict

import (
	"fmt"
	"strings"
)

// Status is the state of one scanned object. The numeric order is the
// severity order used for the roll-up: a larger value wins.
type Status int

const (
	Clean Status = iota
	Unchecked
	Corrupted
	Protected
	Suspicious
	Infected
)

var names = [...]string{"CLEAN", "UNCHECKED", "CORRUPTED", "PROTECTED", "SUSPICIOUS", "INFECTED"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Parse converts a status name (any case) back into a Status.
func Parse(s string) (Status, error) {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return Status(i), nil
		}
	}
	return Clean, fmt.Errorf("verdict: unknown status %q", s)
}

// Engines that can produce a detection.
const (
	EngineYARA = "yara"
	EngineHash = "hash"
	EngineBody = "body"
)

// Detection describes one object that is not clean.
type Detection struct {
	// Path of the object inside the scanned one, "/"-separated:
	// "mail.eml/2/invoice.zip/docs/a.exe".
	Path   string
	Status Status
	// Name of the signature (INFECTED, SUSPICIOUS).
	Name string
	// Engine that matched (EngineYARA, EngineHash, EngineBody).
	Engine string
	// Reason for CORRUPTED, PROTECTED and UNCHECKED.
	Reason string
	// Type is the file type detected by content.
	Type  string
	Depth int
	// Meta carries the matching rule's metadata, if any.
	Meta map[string]string
}

// Result is the outcome of scanning one top-level object.
type Result struct {
	// Status is the most severe status of any object.
	Status Status
	// Detections lists every non-clean object, in scan order.
	Detections []Detection
	// Objects counts the objects scanned (the top one and every member).
	Objects int64
	// Bytes counts the bytes scanned over all objects.
	Bytes int64
	// ListedObjects lists every object the scan reached, clean or not, in
	// scan order (the top one and each member at every depth), when the
	// scan was asked to list them; it is nil otherwise. A member refused
	// before it could be read (encrypted, over a limit) is listed with an
	// empty Type and its declared size; Detections says why.
	ListedObjects []Object
	// ObjectsTruncated reports that ListedObjects was cut at the engine's
	// bound; the scan itself went on.
	ObjectsTruncated bool
}

// Object describes one object of a scan, clean or not.
type Object struct {
	// Path in the same form as Detection.Path.
	Path string
	// Type is the file type detected by content (Detection.Type names),
	// empty for a member that was not read.
	Type  string
	Depth int
	// Size is the length in bytes of the content scanned; for a member
	// that was not read, its declared size (0 when unknown).
	Size int64
}

// Add records a detection and raises the roll-up status.
func (r *Result) Add(d Detection) {
	r.Detections = append(r.Detections, d)
	if d.Status > r.Status {
		r.Status = d.Status
	}
}

// Names returns the distinct signature names of INFECTED and SUSPICIOUS
// detections, in order of first appearance.
func (r *Result) Names() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range r.Detections {
		if d.Name != "" && !seen[d.Name] {
			seen[d.Name] = true
			out = append(out, d.Name)
		}
	}
	return out
}
