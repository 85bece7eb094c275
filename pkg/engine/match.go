package engine

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"time"

	"ave/pkg/hashsig"
	"ave/pkg/sigdb"
	"ave/pkg/unpack"
	"ave/pkg/verdict"
	"ave/pkg/yarascan"
)

// matcher matches one scan's objects against one DB with one worker's
// scanners.
type matcher struct {
	db *sigdb.DB
	sc *scanners
}

// inspect is the unpack.InspectFunc: allow-list, hashes, YARA rules, then
// the body signatures' rules where the object holds an anchor of one
// (sigdb.BodySet.MayMatch: the others cannot match).
func (m *matcher) inspect(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
	size := int64(len(o.Data))
	if _, ok := lookupHashes(m.db.Allow, o.Data, size); ok {
		return nil, true, nil // known good: not even opened
	}
	var dets []verdict.Detection
	if name, ok := lookupHashes(m.db.Hashes, o.Data, size); ok && !m.db.Ignore[name] {
		// An exact known-bad file: nothing more to learn from its content.
		return []verdict.Detection{{Status: verdict.Infected, Name: name, Engine: verdict.EngineHash}}, true, nil
	}
	vars := yarascan.Vars{Filename: o.Name, Filetype: string(o.Type), Path: o.Path, Depth: o.Depth}
	if m.sc.rules != nil {
		matches, err := m.scan(ctx, m.sc.rules, o.Data, vars)
		for _, mt := range matches {
			d := ruleDetection(mt)
			if !m.db.Ignore[d.Name] {
				dets = append(dets, d)
			}
		}
		if err != nil {
			return m.scanError(dets, err)
		}
	}
	if m.sc.body != nil && m.db.Body.MayMatch(o.Data) {
		matches, err := m.scan(ctx, m.sc.body, o.Data, vars)
		for _, mt := range matches {
			if strings.HasPrefix(mt.Rule, sigdb.BodyRulePrefix) {
				dets = append(dets, m.confirmBody(mt, size, string(o.Type))...)
			}
		}
		if err != nil {
			return m.scanError(dets, err)
		}
	}
	return dets, false, nil
}

// scan runs one scanner on data within what is left of the scan's time.
func (m *matcher) scan(ctx context.Context, sc *yarascan.Scanner, data []byte, vars yarascan.Vars) ([]yarascan.Match, error) {
	timeout := time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, ctx.Err()
		}
	}
	return sc.Scan(data, vars, timeout)
}

// scanError ends an object's matching on a scan error: libyara's time-out
// makes it UNCHECKED, other errors are the walker's to report.
func (m *matcher) scanError(dets []verdict.Detection, err error) ([]verdict.Detection, bool, error) {
	if errors.Is(err, yarascan.ErrTimeout) {
		dets = append(dets, verdict.Detection{Status: verdict.Unchecked, Reason: "limit: scan time exceeded MaxScanTime"})
		return dets, true, nil
	}
	return dets, false, err
}

// confirmBody turns the string matches of one body bundle into detections,
// checking each signature's offset and target type.
func (m *matcher) confirmBody(mt yarascan.Match, size int64, ftype string) []verdict.Detection {
	offs := map[int][]int64{}
	for _, s := range mt.Strings {
		i, err := strconv.Atoi(strings.TrimPrefix(s.Name, "$b"))
		if err != nil {
			continue
		}
		offs[i] = append(offs[i], s.Offset)
	}
	var dets []verdict.Detection
	for i, o := range offs {
		if !m.db.Body.Confirm(i, o, size, ftype) {
			continue
		}
		name := m.db.Body.Sig(i).Name
		if m.db.Ignore[name] {
			continue
		}
		dets = append(dets, verdict.Detection{Status: verdict.Infected, Name: name, Engine: verdict.EngineBody})
	}
	return dets
}

// ruleDetection maps a YARA rule match to a detection. A rule is
// SUSPICIOUS when it has the tag "suspicious" or meta status="suspicious";
// its reported name is meta "name" if set, else the rule name.
func ruleDetection(mt yarascan.Match) verdict.Detection {
	d := verdict.Detection{Status: verdict.Infected, Name: mt.Rule, Engine: verdict.EngineYARA, Meta: mt.Meta}
	if n := mt.Meta["name"]; n != "" {
		d.Name = n
	}
	if strings.EqualFold(mt.Meta["status"], "suspicious") {
		d.Status = verdict.Suspicious
	}
	for _, t := range mt.Tags {
		if strings.EqualFold(t, "suspicious") {
			d.Status = verdict.Suspicious
		}
	}
	return d
}

// lookupHashes computes only the digests the set needs for this size and
// looks them up.
func lookupHashes(s *hashsig.Set, data []byte, size int64) (string, bool) {
	if s == nil || s.Len() == 0 {
		return "", false
	}
	needMD5, needSHA1, needSHA256 := s.Need(size)
	if needMD5 {
		sum := md5.Sum(data)
		if n, ok := s.Lookup(hashsig.MD5, sum[:], size); ok {
			return n, true
		}
	}
	if needSHA1 {
		sum := sha1.Sum(data)
		if n, ok := s.Lookup(hashsig.SHA1, sum[:], size); ok {
			return n, true
		}
	}
	if needSHA256 {
		sum := sha256.Sum256(data)
		if n, ok := s.Lookup(hashsig.SHA256, sum[:], size); ok {
			return n, true
		}
	}
	return "", false
}
