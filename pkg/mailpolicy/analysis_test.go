package mailpolicy

import (
	"regexp"
	"strings"
	"testing"

	"ave/pkg/config"
	"ave/pkg/mimeparts"
	"ave/pkg/verdict"
)

// Leaves of a message with a text body, report.pdf, a.exe and a
// forwarded mail.
var testLeaves = []leaf{
	{Name: "1", ContentType: "text/plain", Start: 100, End: 200},
	{Name: "report.pdf", Filename: "report.pdf", ContentType: "application/pdf", Start: 200, End: 300},
	{Name: "a.exe", Filename: "a.exe", ContentType: "application/octet-stream", Start: 300, End: 400},
	{Name: "fwd.eml", ContentType: "message/rfc822", Start: 400, End: 500},
}

func det(path string, st verdict.Status, name string) verdict.Detection {
	return verdict.Detection{Path: path, Status: st, Name: name}
}

func TestAnalyseStatusesAndCure(t *testing.T) {
	single := []leaf{{Name: "1", ContentType: "text/plain", Start: 0, End: 50, Root: true}}
	exe := filters{byName: []*regexp.Regexp{regexp.MustCompile(`(?i)\.exe$`)}}
	mime := filters{byMIME: []*regexp.Regexp{regexp.MustCompile(`(?i)^application/pdf$`)}}
	typ := filters{byType: []*regexp.Regexp{regexp.MustCompile(`^pe$`)}}
	cases := []struct {
		name     string
		dets     []verdict.Detection
		objs     []verdict.Object
		leaves   []leaf
		flt      filters
		clean    bool
		status   config.PolicyStatus
		cure     []int
		cureOK   bool
		remove   []int
		removeOK bool
	}{
		{name: "clean", leaves: testLeaves, clean: true, cureOK: true, removeOK: true, cure: []int{}, remove: []int{}},
		{name: "infected attachment is cured", dets: []verdict.Detection{det("Q1/a.exe", verdict.Infected, "EICAR")}, leaves: testLeaves,
			status: config.StatusCured, cure: []int{2}, cureOK: true, remove: []int{2}, removeOK: true},
		{name: "infected deep in a forwarded mail cures the forwarded part", dets: []verdict.Detection{det("Q1/fwd.eml/2/x.zip/e.com", verdict.Infected, "EICAR")}, leaves: testLeaves,
			status: config.StatusCured, cure: []int{3}, cureOK: true, remove: []int{3}, removeOK: true},
		{name: "infected single-part body cannot be cured", dets: []verdict.Detection{det("Q1/1", verdict.Infected, "EICAR")}, leaves: single,
			status: config.StatusInfected},
		{name: "infected message itself cannot be cured", dets: []verdict.Detection{det("Q1", verdict.Infected, "EICAR")}, leaves: testLeaves,
			status: config.StatusInfected},
		{name: "suspicious wins over a curable infection", dets: []verdict.Detection{det("Q1/a.exe", verdict.Infected, "E"), det("Q1/report.pdf", verdict.Suspicious, "S")}, leaves: testLeaves,
			status: config.StatusSuspicious, cure: []int{2}, cureOK: true, remove: []int{1, 2}, removeOK: true},
		{name: "protected part", dets: []verdict.Detection{{Path: "Q1/report.pdf", Status: verdict.Protected, Reason: "encrypted"}}, leaves: testLeaves,
			status: config.StatusProtected, cure: []int{}, cureOK: true, remove: []int{1}, removeOK: true},
		{name: "limit on the message is an error and not separable", dets: []verdict.Detection{{Path: "Q1", Status: verdict.Unchecked, Reason: "MaxScanTime"}}, leaves: testLeaves,
			status: config.StatusError, cure: []int{}, cureOK: true},
		{name: "filtered by attachment name", leaves: testLeaves, flt: exe,
			status: config.StatusFiltered, cure: []int{2}, cureOK: true, remove: []int{2}, removeOK: true},
		{name: "filtered by a name inside an archive", objs: []verdict.Object{{Path: "Q1", Depth: 0}, {Path: "Q1/report.pdf", Depth: 1}, {Path: "Q1/fwd.eml/setup.EXE", Depth: 2}}, leaves: testLeaves, flt: exe,
			status: config.StatusFiltered, cure: []int{2, 3}, cureOK: true, remove: []int{2, 3}, removeOK: true},
		{name: "filtered by declared MIME type", leaves: testLeaves, flt: mime,
			status: config.StatusFiltered, cure: []int{1}, cureOK: true, remove: []int{1}, removeOK: true},
		{name: "filtered by real type", objs: []verdict.Object{{Path: "Q1", Type: "mail"}, {Path: "Q1/report.pdf", Type: "pe", Depth: 1}}, leaves: testLeaves, flt: typ,
			status: config.StatusFiltered, cure: []int{1}, cureOK: true, remove: []int{1}, removeOK: true},
		{name: "filter never matches the message itself", objs: []verdict.Object{{Path: "Q1", Type: "pe"}}, leaves: single, flt: typ,
			clean: true, cure: []int{}, cureOK: true, remove: []int{}, removeOK: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := analyse("Q1", &verdict.Result{Detections: c.dets, ListedObjects: c.objs}, c.leaves, c.flt)
			if a.Clean != c.clean || (!c.clean && a.Status != c.status) {
				t.Fatalf("clean %v status %v, want clean %v status %v (findings %+v)", a.Clean, a.Status, c.clean, c.status, a.Findings)
			}
			if a.CureOK != c.cureOK || !sameInts(a.Cure, c.cure) {
				t.Fatalf("cure %v ok %v, want %v ok %v", a.Cure, a.CureOK, c.cure, c.cureOK)
			}
			if a.RemoveOK != c.removeOK || !sameInts(a.Remove, c.remove) {
				t.Fatalf("remove %v ok %v, want %v ok %v", a.Remove, a.RemoveOK, c.remove, c.removeOK)
			}
		})
	}
}

func TestLeavesOfMatchesNamesWithSlashesAndDuplicates(t *testing.T) {
	ls := []leaf{{Name: "a"}, {Name: "a/b"}, {Name: "a"}}
	if got := leavesOf("Q", "Q/a/b/c", ls); !sameInts(got, []int{0, 1, 2}) {
		t.Fatalf("got %v", got) // every leaf that could hold it
	}
	if got := leavesOf("Q", "Q/zz", ls); got != nil {
		t.Fatalf("unknown member: %v", got)
	}
	if got := leavesOf("Q", "Qx/a", ls); got != nil {
		t.Fatalf("other root: %v", got)
	}
}

// TestControlCharactersInPartNamesStillMatchTheScanPath: a part named
// "invoice<TAB>x.pdf" (an RFC 2047 word decoding to a tab) is scanned as
// "invoice_x.pdf" (the walker replaces control characters); its leaf
// must carry the same name, or the infected attachment is not separable
// and the whole message counts as Infected instead of Cured.
func TestControlCharactersInPartNamesStillMatchTheScanPath(t *testing.T) {
	raw := []byte("Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"=?utf-8?q?invoice=09x.pdf?=\"\r\n\r\nbody\r\n" +
		"--b--\r\n")
	var leaves []leaf
	for _, l := range mimeparts.Leaves(raw) {
		leaves = append(leaves, leaf{Name: l.Name, Filename: l.Filename, ContentType: l.ContentType, Start: l.Start, End: l.End, Root: l.Root})
	}
	res := &verdict.Result{Status: verdict.Infected, Detections: []verdict.Detection{det("Q1/invoice_x.pdf", verdict.Infected, "Test-Virus")}}
	a := analyse("Q1", res, leaves, filters{})
	if a.Status != config.StatusCured || len(a.Cure) != 1 {
		t.Fatalf("status %v, cure %v (leaves %+v)", a.Status, a.Cure, leaves)
	}
}

// TestEverySignatureOfAnObjectIsNamed: two signatures on one object (same
// status) both reach the names of the message (notices, reject text, tag
// header); a worse status on the same object replaces them.
func TestEverySignatureOfAnObjectIsNamed(t *testing.T) {
	res := &verdict.Result{Status: verdict.Infected, Detections: []verdict.Detection{
		det("Q1/a.exe", verdict.Infected, "Sig-A"), det("Q1/a.exe", verdict.Infected, "Sig-B"), det("Q1/a.exe", verdict.Infected, "Sig-A"),
		det("Q1/b.exe", verdict.Suspicious, "Heur-1"), det("Q1/b.exe", verdict.Infected, "Sig-C"),
	}}
	a := analyse("Q1", res, nil, filters{})
	if got := strings.Join(a.Names(), ","); got != "Sig-A,Sig-B,Sig-C" {
		t.Fatalf("names %q", got)
	}
	if d := a.Findings[0].describe(); d != "INFECTED Sig-A, Sig-B" {
		t.Fatalf("describe %q", d)
	}
}

// TestTruncatedObjectListIsNotAPass: with a name or type filter, an
// object list the engine cut short makes the message Error (UNCHECKED,
// with the reason), not clean: the objects left out were never filtered.
func TestTruncatedObjectListIsNotAPass(t *testing.T) {
	exe := filters{byName: []*regexp.Regexp{regexp.MustCompile(`(?i)\.exe$`)}}
	res := &verdict.Result{Status: verdict.Clean, ObjectsTruncated: true,
		ListedObjects: []verdict.Object{{Path: "Q1", Depth: 0}, {Path: "Q1/a.txt", Depth: 1}}}
	a := analyse("Q1", res, nil, exe)
	if a.Clean || a.Status != config.StatusError || !strings.Contains(a.Findings[0].Reason, "truncated") {
		t.Fatalf("clean %v status %v findings %+v", a.Clean, a.Status, a.Findings)
	}
	res.ObjectsTruncated = false
	if a := analyse("Q1", res, nil, exe); !a.Clean {
		t.Fatalf("a whole list without a match: %+v", a)
	}
}
