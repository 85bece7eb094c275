package mailpolicy

import (
	"regexp"
	"slices"
	"strings"

	"ave/pkg/config"
	"ave/pkg/verdict"
)

// leaf is one leaf of the message's top-level MIME structure, as the
// engine names it (pkg/mimeparts.Leaves).
type leaf struct {
	Name        string // the member name in scan paths
	Filename    string // declared file name, or ""
	ContentType string // declared media type, lower-case
	Start, End  int64  // the entity's bytes in the message
	Root        bool   // the message's own body: not separable
	// Inner lists the declared media types of the parts of a forwarded
	// message (message/rfc822), its nested messages' included: the MIME
	// filter sees through the wrapping.
	Inner []string
}

// finding is one non-clean object of a message for one group: a
// detection of the scan or an object the group's filters matched.
type finding struct {
	Path     string
	Status   verdict.Status // CLEAN for a Filtered-only object
	Filtered string         // why the filters matched ("name", "MIME type", "type"); "" = not filtered
	Name     string         // signature name
	More     []string       // further signature names on the same object, same status
	Reason   string
	Leaves   []int // indexes of the leaves holding the object; empty = not separable
}

func (f *finding) separable() bool { return len(f.Leaves) > 0 }

// describe renders a finding for reports and notices.
func (f *finding) describe() string {
	var s string
	switch {
	case f.Status != verdict.Clean:
		s = f.Status.String()
		if f.Name != "" {
			s += " " + strings.Join(append([]string{f.Name}, f.More...), ", ")
		} else if f.Reason != "" {
			s += " (" + f.Reason + ")"
		}
		if f.Filtered != "" {
			s += ", FILTERED by " + f.Filtered
		}
	default:
		s = "FILTERED by " + f.Filtered
	}
	return s
}

// analysis is a message's state for one group: its policy status, the
// findings, and which leaves the cured and the removed copies drop.
type analysis struct {
	Clean    bool
	Status   config.PolicyStatus
	Findings []finding
	// Cure drops the leaves holding INFECTED or Filtered objects; Remove
	// drops the leaves of every finding. nil with ok false: no such copy
	// can be made (an object is the message itself).
	Cure, Remove     []int
	CureOK, RemoveOK bool
}

// Names returns the distinct signature names of the findings.
func (a *analysis) Names() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range a.Findings {
		for _, n := range append([]string{f.Name}, f.More...) {
			if n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// filters is a group's attachment filter.
type filters struct {
	byName, byMIME, byType []*regexp.Regexp
}

func (f filters) empty() bool { return len(f.byName)+len(f.byMIME)+len(f.byType) == 0 }

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// leavesOf returns the leaves holding the object at path (a scan path
// starting with root). A path naming the message itself, or a leaf that
// is the message's own body, is not separable: nil.
func leavesOf(root, path string, leaves []leaf) []int {
	rest, ok := strings.CutPrefix(path, root+"/")
	if !ok || rest == "" {
		return nil
	}
	var out []int
	for i, l := range leaves {
		if rest == l.Name || strings.HasPrefix(rest, l.Name+"/") {
			if l.Root {
				return nil
			}
			out = append(out, i)
		}
	}
	return out
}

// analyse classifies a scanned message for a group with filters flt.
// root is the name the message was scanned under; leaves its structure
// (nil when the bytes were not needed: no findings and no MIME filter).
func analyse(root string, res *verdict.Result, leaves []leaf, flt filters) *analysis {
	a := &analysis{}
	byPath := map[string]int{}
	add := func(f finding) {
		if i, ok := byPath[f.Path]; ok {
			g := &a.Findings[i]
			switch {
			case f.Status > g.Status:
				g.Status, g.Name, g.More, g.Reason = f.Status, f.Name, nil, f.Reason
			case f.Status == g.Status && f.Name != "" && f.Name != g.Name && !slices.Contains(g.More, f.Name):
				if g.Name == "" {
					g.Name = f.Name
				} else {
					g.More = append(g.More, f.Name)
				}
			}
			if g.Filtered == "" {
				g.Filtered = f.Filtered
			}
			return
		}
		f.Leaves = leavesOf(root, f.Path, leaves)
		byPath[f.Path] = len(a.Findings)
		a.Findings = append(a.Findings, f)
	}
	for _, d := range res.Detections {
		if d.Status == verdict.Clean {
			continue
		}
		add(finding{Path: d.Path, Status: d.Status, Name: d.Name, Reason: d.Reason})
	}
	if (len(flt.byName) > 0 || len(flt.byType) > 0) && res.ObjectsTruncated {
		// The engine cut the object list (too many objects or too long
		// names): what it left out was not filtered, so the message
		// cannot count as passing the filter.
		add(finding{Path: root, Status: verdict.Unchecked, Reason: "object list truncated: the attachment filter did not see every object"})
	}
	if !flt.empty() {
		for _, o := range res.ListedObjects {
			if o.Depth == 0 || o.Path == root {
				continue // the message itself is not an attachment
			}
			name := o.Path[strings.LastIndexByte(o.Path, '/')+1:]
			switch {
			case anyMatch(flt.byName, name):
				add(finding{Path: o.Path, Filtered: "name"})
			case o.Type != "" && anyMatch(flt.byType, o.Type):
				add(finding{Path: o.Path, Filtered: "type " + o.Type})
			}
		}
		for _, l := range leaves {
			p := root + "/" + l.Name
			switch {
			case l.Filename != "" && anyMatch(flt.byName, l.Filename):
				add(finding{Path: p, Filtered: "name"})
			case anyMatch(flt.byMIME, l.ContentType):
				add(finding{Path: p, Filtered: "MIME type " + l.ContentType})
			default:
				for _, t := range l.Inner {
					if anyMatch(flt.byMIME, t) {
						add(finding{Path: p, Filtered: "MIME type " + t + " inside"})
						break
					}
				}
			}
		}
	}

	var inf, susp, filt, corr, prot, unch bool
	curable := true
	a.CureOK, a.RemoveOK = true, true
	cure, remove := map[int]bool{}, map[int]bool{}
	for _, f := range a.Findings {
		switch f.Status {
		case verdict.Infected:
			inf = true
			curable = curable && f.separable()
		case verdict.Suspicious:
			susp = true
		case verdict.Corrupted:
			corr = true
		case verdict.Protected:
			prot = true
		case verdict.Unchecked:
			unch = true
		}
		if f.Filtered != "" {
			filt = true
		}
		if !f.separable() {
			a.RemoveOK = false
			if f.Status == verdict.Infected || f.Filtered != "" {
				a.CureOK = false
			}
		}
		for _, i := range f.Leaves {
			remove[i] = true
			if f.Status == verdict.Infected || f.Filtered != "" {
				cure[i] = true
			}
		}
	}
	switch {
	case inf && !curable:
		a.Status = config.StatusInfected
	case susp:
		a.Status = config.StatusSuspicious
	case inf:
		a.Status = config.StatusCured
	case filt:
		a.Status = config.StatusFiltered
	case corr:
		a.Status = config.StatusCorrupted
	case prot:
		a.Status = config.StatusProtected
	case unch:
		a.Status = config.StatusError
	default:
		a.Clean = true
	}
	if a.CureOK {
		a.Cure = sortedKeys(cure)
	}
	if a.RemoveOK {
		a.Remove = sortedKeys(remove)
	}
	return a
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
