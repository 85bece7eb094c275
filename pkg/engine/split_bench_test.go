package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"ave/pkg/unpack"
	"ave/pkg/verdict"
	"ave/pkg/yarascan"
)

// TestCorpusSplit (run with AVE_SPLIT=1; AVE_SPLIT_KINDS="mail web" for
// some kinds) prints, per kind of the `make bench` corpus, the objects
// walked (by depth and type) and where one goroutine's wall time goes: the
// YARA rules, the body filter with the body rules where it lets an object
// through ("fires"), the hash look-ups, and the rest (unpacking, type
// detection). Wall time: run it on a quiet machine.
//
//	AVE_SPLIT=1 go test -run CorpusSplit -v ./pkg/engine/
func TestCorpusSplit(t *testing.T) {
	if os.Getenv("AVE_SPLIT") == "" {
		t.Skip("AVE_SPLIT not set")
	}
	corpus, db := benchData(t)
	ref := newRef(db)
	sc, _ := ref.getScanners()
	defer ref.putScanners(sc)
	kinds := []string{"docs/text", "docs/data", "logs", "web", "docs/pdf", "docs/office", "images", "bin/windows", "bin/linux", "archives", "mail"}
	if k := os.Getenv("AVE_SPLIT_KINDS"); k != "" {
		kinds = strings.Fields(k)
	}
	var gt, gy, gh, gb time.Duration
	var gobj int64
	for _, k := range kinds {
		files, total := corpusFiles(filepath.Join(corpus, k))
		var tYara, tHash, tAll, tBody time.Duration
		fires := 0
		var objs, objBytes int64
		types := map[string][2]int64{}
		for _, f := range files {
			data, _ := os.ReadFile(f)
			w := unpack.Walker{Inspect: func(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
				objs++
				objBytes += int64(len(o.Data))
				key := fmt.Sprintf("d%d:%s", min(o.Depth, 1), o.Type)
				c := types[key]
				c[0]++
				c[1] += int64(len(o.Data))
				types[key] = c
				t0 := time.Now()
				lookupHashes(db.Hashes, o.Data, int64(len(o.Data)))
				t1 := time.Now()
				vars := yarascan.Vars{Filename: o.Name, Filetype: string(o.Type), Path: o.Path, Depth: o.Depth}
				sc.rules.Scan(o.Data, vars, time.Minute)
				t2 := time.Now()
				if db.Body.MayMatch(o.Data) {
					fires++
					sc.body.Scan(o.Data, vars, time.Minute)
				}
				tBody += time.Since(t2)
				tHash += t1.Sub(t0)
				tYara += t2.Sub(t1)
				return nil, false, nil
			}}
			t0 := time.Now()
			w.Walk(context.Background(), f, data, "", false)
			tAll += time.Since(t0)
		}
		gt += tAll
		gy += tYara
		gh += tHash
		gb += tBody
		gobj += objs
		fmt.Printf("%-12s files %5d  %6.1f MB  objs %6d (%6.1f MB)  total %6.2fs  yara %6.2fs (%4.0f µs/obj)  body %5.2fs (%d fires)  hash %5.2fs  rest %5.2fs\n",
			k, len(files), float64(total)/1e6, objs, float64(objBytes)/1e6, tAll.Seconds(), tYara.Seconds(),
			float64(tYara.Microseconds())/float64(objs), tBody.Seconds(), fires, tHash.Seconds(), (tAll - tYara - tHash - tBody).Seconds())
		keys := make([]string, 0, len(types))
		for t := range types {
			keys = append(keys, t)
		}
		sort.Slice(keys, func(i, j int) bool { return types[keys[i]][0] > types[keys[j]][0] })
		for _, t := range keys[:min(len(keys), 8)] {
			fmt.Printf("      %-20s %6d objs %8.1f KB\n", t, types[t][0], float64(types[t][1])/1e3)
		}
	}
	fmt.Printf("ALL objs %d total %.2fs yara %.2fs body %.2fs hash %.2fs rest %.2fs\n", gobj, gt.Seconds(), gy.Seconds(), gb.Seconds(), gh.Seconds(), (gt - gy - gb - gh).Seconds())
}
