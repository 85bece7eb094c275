package engine

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ave/pkg/sigdb"
	"ave/pkg/unpack"
	"ave/pkg/verdict"
	"ave/pkg/yarascan"
)

// BenchmarkCorpusKind scans each kind of file of the `make bench` corpus
// (one sub-benchmark per directory the bench script reports by kind:
// web, docs/pdf, mail, ...) in-process with two goroutines, the way
// BenchmarkCorpus scans all of it. MB/s per kind:
//
//	go test -run XXX -bench CorpusKind -count 5 ./pkg/engine/
//	go test -run XXX -bench CorpusKind/web -cpuprofile web.prof ./pkg/engine/
//
// Sub-benchmark names use "_" for "/" (docs_pdf).
func BenchmarkCorpusKind(b *testing.B) {
	corpus, db := benchData(b)
	kinds := []string{"web", "docs/pdf", "mail", "docs/office", "docs/text", "docs/data", "archives", "bin", "images", "logs"}
	for _, k := range kinds {
		files, total := corpusFiles(filepath.Join(corpus, k))
		if len(files) == 0 {
			continue
		}
		name := strings.ReplaceAll(k, "/", "_")
		b.Run(name, func(b *testing.B) {
			data := make([][]byte, len(files))
			for i, f := range files {
				var err error
				if data[i], err = os.ReadFile(f); err != nil {
					b.Fatal(err)
				}
			}
			var objects atomic.Int64
			b.SetBytes(total)
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := New(db, Options{Workers: 2, CacheEntries: -1})
				ch := make(chan int)
				var wg sync.WaitGroup
				for g := 0; g < 2; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for j := range ch {
							r, err := e.Scan(context.Background(), Request{Name: files[j], Data: data[j]})
							if err != nil {
								b.Error(err)
							}
							objects.Add(r.Objects)
						}
					}()
				}
				for j := range files {
					ch <- j
				}
				close(ch)
				wg.Wait()
			}
			b.StopTimer()
			// CPU seconds of the whole process (both scanning goroutines,
			// the collector): less disturbed by other load than ns/op.
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(objects.Load())/float64(b.N), "objects/op")
			b.ReportMetric(cpu*1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(total)*float64(b.N)/1e6/cpu, "MB/cpu-s")
		})
	}
}

// benchData returns the corpus directory and the loaded DB of `make bench`
// (AVE_BENCH_DATA, default ../../bench-out/data), or skips.
func benchData(tb testing.TB) (string, *sigdb.DB) {
	dir := os.Getenv("AVE_BENCH_DATA")
	if dir == "" {
		dir = "../../bench-out/data"
	}
	corpus, err := filepath.EvalSymlinks(filepath.Join(dir, "corpus"))
	if err != nil {
		tb.Skip("no bench corpus: run make bench first")
	}
	db, err := sigdb.Load(filepath.Join(dir, "db"))
	if err != nil {
		tb.Fatal(err)
	}
	return corpus, db
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func corpusFiles(dir string) ([]string, int64) {
	var files []string
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
			if st, err := d.Info(); err == nil {
				total += st.Size()
			}
		}
		return nil
	})
	return files, total
}

// BenchmarkCorpusObjects splits the matching cost of the web, PDF and mail
// corpora by object type and depth: each file is walked once, every object
// it yields kept, and the sub-benchmarks match those objects alone
// (allow-list, hashes, YARA; no unpacking), one goroutine. Its MB/s
// against the kind's own shows how much of a kind's time is matching and
// which objects it goes to.
//
//	go test -run XXX -bench CorpusObjects ./pkg/engine/
func BenchmarkCorpusObjects(b *testing.B) {
	corpus, db := benchData(b)
	for _, k := range []string{"web", "docs/pdf", "mail"} {
		files, _ := corpusFiles(filepath.Join(corpus, k))
		groups := map[string][]unpack.Object{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			w := unpack.Walker{Inspect: func(_ context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
				c := *o
				c.Data = append([]byte(nil), o.Data...)
				g := fmt.Sprintf("d%d_%s", min(o.Depth, 2), o.Type)
				groups[g] = append(groups[g], c)
				return nil, false, nil
			}}
			w.Walk(context.Background(), f, data, "", false)
		}
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			objs := groups[g]
			var total int64
			for _, o := range objs {
				total += int64(len(o.Data))
			}
			b.Run(strings.ReplaceAll(k, "/", "_")+"/"+g, func(b *testing.B) {
				ref := newRef(db)
				sc, err := ref.getScanners()
				if err != nil {
					b.Fatal(err)
				}
				defer ref.putScanners(sc)
				m := &matcher{db: db, sc: sc}
				b.SetBytes(total)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j := range objs {
						if _, _, err := m.inspect(context.Background(), &objs[j]); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(len(objs)), "objects")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(objs)), "µs/object")
			})
		}
	}
}

// BenchmarkInspectFixedCost is the per-object cost of matching with the
// bench DB: one object of each size, through matcher.inspect (hashes, YARA,
// the body filter), through the YARA rules' scanner alone, the body rules'
// scanner alone and the body filter alone.
func BenchmarkInspectFixedCost(b *testing.B) {
	dir := os.Getenv("AVE_BENCH_DATA")
	if dir == "" {
		dir = "../../bench-out/data"
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); err != nil {
		b.Skip("no bench DB: run make bench first")
	}
	db, err := sigdb.Load(filepath.Join(dir, "db"))
	if err != nil {
		b.Fatal(err)
	}
	ref := newRef(db)
	sc, err := ref.getScanners()
	if err != nil {
		b.Fatal(err)
	}
	defer ref.putScanners(sc)
	m := &matcher{db: db, sc: sc}
	for _, size := range []int{16, 4 << 10, 64 << 10} {
		data := []byte(strings.Repeat("BT /F1 12 Tf 72 712 Td (Hello) Tj ET\n", size/37+1)[:size])
		o := &unpack.Object{Path: "x.pdf/obj5", Name: "obj5", Data: data, Type: "text", Depth: 1}
		b.Run(fmt.Sprintf("inspect/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				m.inspect(context.Background(), o)
			}
		})
		vars := yarascan.Vars{Filename: o.Name, Filetype: string(o.Type), Path: o.Path, Depth: o.Depth}
		b.Run(fmt.Sprintf("yara/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				sc.rules.Scan(data, vars, time.Minute)
			}
		})
		// What an object holding a body signature's anchor costs more.
		b.Run(fmt.Sprintf("body/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				sc.body.Scan(data, vars, time.Minute)
			}
		})
		b.Run(fmt.Sprintf("maymatch/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				db.Body.MayMatch(data)
			}
		})
	}
}
