package engine

import (
	"context"
	"testing"

	"ave/internal/testkit"
	"ave/pkg/sigdb"
)

// BenchmarkScanMailZip scans one small message with a zip of two members
// (six objects), without and with the object list, cache off: what the
// list costs per scan, and that a scan without it costs what it did.
//
//	go test -run XXX -bench ScanMailZip -benchmem ./pkg/engine/
func BenchmarkScanMailZip(b *testing.B) {
	dir := b.TempDir()
	testkit.WriteDB(b, dir, nil)
	db, err := sigdb.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	e := New(db, Options{Workers: 1, CacheEntries: -1})
	defer e.Swap(db)
	mail := mailWithZip(b)
	for _, tc := range []struct {
		name string
		list bool
	}{{"plain", false}, {"list", true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(mail)))
			for i := 0; i < b.N; i++ {
				if _, err := e.Scan(context.Background(), Request{Name: "m.eml", Data: mail, ListObjects: tc.list}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
