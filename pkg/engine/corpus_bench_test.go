package engine

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"ave/pkg/sigdb"
)

// BenchmarkCorpus scans the `make bench` corpus in-process with two
// goroutines, when it exists (AVE_BENCH_DATA, default ../../bench-out/data).
// It is for profiling the engine without gRPC in the way:
//
//	go test -run XXX -bench Corpus -cpuprofile cpu.out ./pkg/engine/
func BenchmarkCorpus(b *testing.B) { benchCorpus(b, false) }

// BenchmarkCorpusListObjects is BenchmarkCorpus with every scan asked to
// list its objects (Request.ListObjects): the cost of the list.
func BenchmarkCorpusListObjects(b *testing.B) { benchCorpus(b, true) }

func benchCorpus(b *testing.B, list bool) {
	dir := os.Getenv("AVE_BENCH_DATA")
	if dir == "" {
		dir = "../../bench-out/data"
	}
	if _, err := os.Stat(filepath.Join(dir, "corpus")); err != nil {
		b.Skip("no bench corpus: run make bench first")
	}
	db, err := sigdb.Load(filepath.Join(dir, "db"))
	if err != nil {
		b.Fatal(err)
	}
	var files []string
	var total int64
	corpus, _ := filepath.EvalSymlinks(filepath.Join(dir, "corpus"))
	filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
			if st, err := d.Info(); err == nil {
				total += st.Size()
			}
		}
		return nil
	})
	var objects atomic.Int64
	defer func() { b.ReportMetric(float64(objects.Load())/float64(b.N), "objects/op") }()
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := New(db, Options{Workers: 2, CacheEntries: -1})
		ch := make(chan string)
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range ch {
					data, err := os.ReadFile(p)
					if err != nil {
						b.Error(err)
						continue
					}
					r, err := e.Scan(context.Background(), Request{Name: p, Data: data, ListObjects: list})
					if err != nil {
						b.Error(err)
					}
					objects.Add(r.Objects)
				}
			}()
		}
		for _, f := range files {
			ch <- f
		}
		close(ch)
		wg.Wait()
	}
}
