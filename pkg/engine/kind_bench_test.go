package engine

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ave/pkg/sigdb"
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
	dir := os.Getenv("AVE_BENCH_DATA")
	if dir == "" {
		dir = "../../bench-out/data"
	}
	corpus, err := filepath.EvalSymlinks(filepath.Join(dir, "corpus"))
	if err != nil {
		b.Skip("no bench corpus: run make bench first")
	}
	db, err := sigdb.Load(filepath.Join(dir, "db"))
	if err != nil {
		b.Fatal(err)
	}
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
