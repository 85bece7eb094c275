package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

type kind uint8

const (
	kText kind = iota
	kCSV
	kLog
	kHTML
	kPDF
	kDOCX
	kXLSX
	kPNG
	kJPEG
	kPE
	kELF
	kZip
	kTgz
	kEML
	kEicar
	nKinds
)

type kindInfo struct {
	dir, prefix, ext string
	raw              bool // planted bytes stay plain in the file (else they are compressed/encoded)
	weight           int  // share among small and medium files
	large            bool // may be one of the 20-50 MB files
	gen              func(c *genCtx, size int, plants [][]byte) []byte
}

var kinds [nKinds]kindInfo

func init() {
	kinds = [nKinds]kindInfo{
		kText:  {"docs/text", "notes", ".txt", true, 12, false, genText},
		kCSV:   {"docs/data", "export", ".csv", true, 5, false, genCSV},
		kLog:   {"logs", "mail", ".log", true, 7, true, genLog},
		kHTML:  {"web", "page", ".html", true, 12, false, genHTML},
		kPDF:   {"docs/pdf", "report", ".pdf", false, 10, true, genPDF},
		kDOCX:  {"docs/office", "letter", ".docx", false, 6, false, genDOCX},
		kXLSX:  {"docs/office", "sheet", ".xlsx", false, 4, false, genXLSX},
		kPNG:   {"images", "chart", ".png", true, 7, false, genPNG},
		kJPEG:  {"images", "photo", ".jpg", true, 9, false, genJPEG},
		kPE:    {"bin/windows", "setup", ".exe", true, 8, true, genPE},
		kELF:   {"bin/linux", "lib", ".so", true, 5, true, genELF},
		kZip:   {"archives", "bundle", ".zip", false, 5, true, genZip},
		kTgz:   {"archives", "backup", ".tar.gz", false, 2, true, genTgz},
		kEML:   {"mail", "msg", ".eml", false, 12, true, genEML},
		kEicar: {"misc", "eicar", ".com", true, 0, false, genEicar},
	}
}

// plant is a signature planted in one file.
type plant struct {
	sig   string
	data  [][]byte // pieces, each inserted at its own place
	where string   // "raw" or "encoded"
}

type fileSpec struct {
	idx        int
	rel        string // relative to corpus/
	kind       kind
	size       int // target size in bytes
	plants     []plant
	hashFile   bool // add the file's MD5 to bench.hdb
	hashMember bool // add an archive member's MD5 to bench.hdb
}

type corpusPlan struct {
	files []*fileSpec
}

func pickKind(r *rnd, large bool) kind {
	total := 0
	for k := range nKinds {
		if kinds[k].weight > 0 && (!large || kinds[k].large) {
			total += kinds[k].weight
		}
	}
	x := r.IntN(total)
	for k := range nKinds {
		if kinds[k].weight > 0 && (!large || kinds[k].large) {
			x -= kinds[k].weight
			if x < 0 {
				return k
			}
		}
	}
	return kText
}

// planCorpus decides every file's kind, size, path and planted signatures.
// About 20% of the bytes go to a few 20-50 MB files (from 200 MB up),
// 20% to files of 1-8 MB and the rest to files of 2-500 KB.
func planCorpus(p params, sigs *sigSet) *corpusPlan {
	r := newRnd(p.seed, streamPlan)
	budget := int64(p.corpusMB) * 1_000_000
	var sizes []struct {
		k    kind
		size int
	}
	var used int64
	add := func(k kind, n int) {
		sizes = append(sizes, struct {
			k    kind
			size int
		}{k, n})
		used += int64(n)
	}
	if budget >= 200_000_000 {
		for n := max(1, int((budget/5+17_500_000)/35_000_000)); n > 0; n-- {
			add(pickKind(r, true), r.between(20_000_000, 50_000_000))
		}
	}
	for mediumEnd := used + budget/5; used < mediumEnd; {
		add(pickKind(r, false), r.logUniform(1_000_000, 8_000_000))
	}
	for used < budget {
		add(pickKind(r, false), r.logUniform(2_000, 500_000))
	}
	// Interleave the kinds in the directory tree the way a mail spool or a
	// file share would look: shuffle, then number per kind.
	r.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })

	plan := &corpusPlan{}
	var count [nKinds]int
	users := []string{"anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo"}
	for _, s := range sizes {
		ki := &kinds[s.k]
		n := count[s.k]
		count[s.k]++
		dir := fmt.Sprintf("%s/d%02d", ki.dir, n/120)
		if s.k == kEML {
			dir = fmt.Sprintf("mail/%s/%s", users[n%len(users)], []string{"inbox", "sent", "archive"}[n/len(users)%3])
		}
		plan.files = append(plan.files, &fileSpec{
			idx:  len(plan.files),
			rel:  fmt.Sprintf("%s/%s-%05d%s", dir, ki.prefix, n, ki.ext),
			kind: s.k,
			size: s.size,
		})
	}
	plan.files = append(plan.files, &fileSpec{
		idx: len(plan.files), rel: "misc/eicar.com", kind: kEicar, size: len(eicar), hashFile: true,
	})
	nfiles := len(plan.files) - 1

	// Files of each kind, to pick plant targets from.
	var byKind [nKinds][]*fileSpec
	for _, f := range plan.files[:nfiles] {
		byKind[f.kind] = append(byKind[f.kind], f)
	}
	randomFile := func() *fileSpec { return plan.files[r.IntN(nfiles)] }
	where := func(f *fileSpec) string {
		if kinds[f.kind].raw {
			return "raw"
		}
		return "encoded"
	}

	// Body signatures with offset "*": about one file in 60.
	var floating []int
	for i := range sigs.ndb {
		if sigs.ndb[i].offset == "*" {
			floating = append(floating, i)
		}
	}
	for range min(len(floating), max(4, nfiles/60)) {
		s := &sigs.ndb[floating[r.IntN(len(floating))]]
		f := randomFile()
		f.plants = append(f.plants, plant{s.name, [][]byte{s.instance(r)}, where(f)})
	}
	// YARA rules: about one file in 60. "MZ" rules go into PE files only.
	for range min(len(sigs.rules), max(4, nfiles/60)) {
		y := &sigs.rules[r.IntN(len(sigs.rules))]
		f := randomFile()
		if y.cond == cMZ {
			if len(byKind[kPE]) == 0 {
				continue
			}
			f = pick(r, byKind[kPE])
		}
		f.plants = append(f.plants, plant{y.name, y.instance(r), where(f)})
	}
	// Whole-file hashes of a few small files, and of the first member of a
	// couple of zip archives.
	for range min(8, nfiles) {
		f := randomFile()
		if f.size <= 500_000 {
			f.hashFile = true
		}
	}
	for range 2 {
		if len(byKind[kZip]) > 0 {
			pick(r, byKind[kZip]).hashMember = true
		}
	}
	return plan
}

// generateCorpus writes every planned file with `workers` goroutines,
// largest files first so the pool stays busy to the end. Each file is built
// in memory from its own random stream and written with one write.
func generateCorpus(dir string, plan *corpusPlan, workers int, seed uint64) ([]fileResult, error) {
	dirs := map[string]bool{}
	for _, f := range plan.files {
		d := filepath.Join(dir, filepath.Dir(f.rel))
		if !dirs[d] {
			dirs[d] = true
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	order := append([]*fileSpec(nil), plan.files...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].size > order[j].size })

	results := make([]fileResult, len(plan.files))
	jobs := make(chan *fileSpec)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				res, err := writeOne(dir, f, seed)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", f.rel, err)
					}
					mu.Unlock()
					continue
				}
				results[f.idx] = res
			}
		}()
	}
	for _, f := range order {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	return results, firstErr
}

func writeOne(dir string, f *fileSpec, seed uint64) (fileResult, error) {
	c := newGenCtx(newRnd(seed, streamFiles+uint64(f.idx)))
	var pieces [][]byte
	for _, pl := range f.plants {
		pieces = append(pieces, pl.data...)
	}
	data := kinds[f.kind].gen(c, f.size, pieces)
	res := fileResult{size: int64(len(data)), member: c.member}
	if f.hashFile {
		res.md5 = md5sum(data)
	}
	return res, os.WriteFile(filepath.Join(dir, f.rel), data, 0o644)
}
