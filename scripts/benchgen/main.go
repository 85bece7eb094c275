// Command benchgen writes the signature databases and the file corpus that
// scripts/bench.sh hands to aveserver, clamd and the yara CLI.
//
//	go run ./scripts/benchgen -out DIR [-hashes 1000000 -ndb 20000 -yara 1000 -corpus-mb 500 -seed 42]
//
// It writes:
//
//	DIR/db/bench.hdb     ClamAV MD5 hash signatures (random, plus a few corpus files)
//	DIR/db/bench.ndb     ClamAV body signatures, all translatable to YARA
//	DIR/db/bench.yar     YARA rules (no external variables)
//	DIR/corpus/...       generated files: text, logs, HTML, PDF, office, images,
//	                     PE/ELF binaries, zip/tar.gz archives, mail messages
//	DIR/expected.tsv     which corpus file carries which planted signature
//	DIR/stamp            the parameters; a later run with the same ones reuses DIR
//
// Everything is derived from -seed: two runs with the same flags write the same
// bytes. Files are generated in parallel, each from its own random stream, so
// the output does not depend on scheduling either.
package main

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// genVersion changes whenever the output for the same flags changes, so an
// old directory is regenerated instead of reused.
const genVersion = 1

// EICAR is the anti-virus test string. It is assembled here at run time and
// written to exactly one corpus file; it is never committed as a file.
var eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

type params struct {
	out      string
	hashes   int
	ndb      int
	yara     int
	corpusMB int
	seed     uint64
	workers  int
	verbose  bool
}

func main() {
	var p params
	flag.StringVar(&p.out, "out", "", "output directory (required)")
	flag.IntVar(&p.hashes, "hashes", 1000000, "number of random MD5 hash signatures")
	flag.IntVar(&p.ndb, "ndb", 20000, "number of ClamAV body (.ndb) signatures")
	flag.IntVar(&p.yara, "yara", 1000, "number of YARA rules")
	flag.IntVar(&p.corpusMB, "corpus-mb", 500, "approximate corpus size in MB (10^6 bytes)")
	seed := flag.Int64("seed", 42, "random seed")
	flag.IntVar(&p.workers, "workers", runtime.NumCPU(), "parallel file writers")
	force := flag.Bool("force", false, "regenerate even if the stamp matches")
	flag.BoolVar(&p.verbose, "v", false, "print planned and written bytes per file kind")
	flag.Parse()
	if p.out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: benchgen -out DIR [-hashes N] [-ndb N] [-yara N] [-corpus-mb MB] [-seed S]")
		os.Exit(2)
	}
	if p.hashes < 0 || p.ndb < 0 || p.yara < 0 || p.corpusMB < 1 || p.workers < 1 {
		fmt.Fprintln(os.Stderr, "benchgen: counts must be >= 0, -corpus-mb and -workers >= 1")
		os.Exit(2)
	}
	p.seed = uint64(*seed)
	if err := run(p, *force); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func stampText(p params) string {
	return fmt.Sprintf("benchgen v%d hashes=%d ndb=%d yara=%d corpus-mb=%d seed=%d\n",
		genVersion, p.hashes, p.ndb, p.yara, p.corpusMB, p.seed)
}

func run(p params, force bool) error {
	start := time.Now()
	stampPath := filepath.Join(p.out, "stamp")
	stamp := stampText(p)
	if !force {
		if b, err := os.ReadFile(stampPath); err == nil && string(b) == stamp {
			fmt.Printf("benchgen: %s is up to date (%s), reusing it\n", p.out, strings.TrimSpace(stamp))
			return nil
		}
	}
	// Only the directories this program owns are removed; other files in
	// DIR (results, logs) are left alone.
	_ = os.Remove(stampPath)
	for _, d := range []string{"db", "corpus"} {
		if err := os.RemoveAll(filepath.Join(p.out, d)); err != nil {
			return err
		}
	}
	dbDir := filepath.Join(p.out, "db")
	corpusDir := filepath.Join(p.out, "corpus")
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return err
	}

	sigs := newSigSet(p)
	plan := planCorpus(p, sigs)

	// The random part of the hash database does not depend on the corpus,
	// so it is written while the corpus is generated.
	hdbPath := filepath.Join(dbDir, "bench.hdb")
	hdb, err := os.Create(hdbPath)
	if err != nil {
		return err
	}
	hdbW := bufio.NewWriterSize(hdb, 1<<20)
	var hdbErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hdbErr = writeRandomHashes(hdbW, p)
	}()

	results, err := generateCorpus(corpusDir, plan, p.workers, p.seed)
	wg.Wait()
	if err != nil {
		hdb.Close()
		return err
	}
	if hdbErr != nil {
		hdb.Close()
		return hdbErr
	}

	// Hash signatures of a few corpus files and archive members.
	var exp []expectation
	for _, f := range plan.files {
		for _, pl := range f.plants {
			exp = append(exp, expectation{f.rel, pl.sig, pl.where})
		}
	}
	n := p.hashes
	for _, f := range plan.files {
		r := results[f.idx]
		if f.hashFile {
			n++
			name := fmt.Sprintf("Bench.Hash.%d", n)
			fmt.Fprintf(hdbW, "%s:%d:%s\n", hex.EncodeToString(r.md5[:]), r.size, name)
			exp = append(exp, expectation{f.rel, name, "hash"})
		}
		if f.hashMember && r.member != nil {
			n++
			name := fmt.Sprintf("Bench.Hash.%d", n)
			fmt.Fprintf(hdbW, "%s:%d:%s\n", hex.EncodeToString(r.member.md5[:]), r.member.size, name)
			exp = append(exp, expectation{f.rel + "/" + r.member.name, name, "hash-member"})
		}
	}
	if err := hdbW.Flush(); err != nil {
		hdb.Close()
		return err
	}
	if err := hdb.Close(); err != nil {
		return err
	}

	if err := writeFile(filepath.Join(dbDir, "bench.ndb"), sigs.writeNDB); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dbDir, "bench.yar"), sigs.writeYARA); err != nil {
		return err
	}
	sort.Slice(exp, func(i, j int) bool {
		if exp[i].rel != exp[j].rel {
			return exp[i].rel < exp[j].rel
		}
		return exp[i].sig < exp[j].sig
	})
	if err := writeFile(filepath.Join(p.out, "expected.tsv"), func(w io.Writer) error {
		fmt.Fprintln(w, "# path (relative to corpus/)\tsignature\twhere: raw = plain bytes in the file, encoded = inside compressed/encoded content, hash = whole-file MD5, hash-member = MD5 of an archive member")
		for _, e := range exp {
			fmt.Fprintf(w, "%s\t%s\t%s\n", e.rel, e.sig, e.where)
		}
		return nil
	}); err != nil {
		return err
	}

	var total int64
	for _, r := range results {
		total += r.size
	}
	if p.verbose {
		var files [nKinds]int
		var planned, written [nKinds]int64
		for _, f := range plan.files {
			files[f.kind]++
			planned[f.kind] += int64(f.size)
			written[f.kind] += results[f.idx].size
		}
		for k := range nKinds {
			if files[k] > 0 {
				fmt.Printf("  %-7s %5d files  planned %8.1f MB  written %8.1f MB (%.2f)\n", strings.TrimPrefix(kinds[k].ext, "."),
					files[k], float64(planned[k])/1e6, float64(written[k])/1e6, float64(written[k])/float64(planned[k]))
			}
		}
	}
	if err := os.WriteFile(stampPath, []byte(stamp), 0o644); err != nil {
		return err
	}
	fmt.Printf("benchgen: %d files, %.1f MB in %s; %d hash + %d body sigs, %d yara rules; %s\n",
		len(plan.files), float64(total)/1e6, corpusDir, n, len(sigs.ndb), len(sigs.rules),
		time.Since(start).Round(10*time.Millisecond))
	return nil
}

type expectation struct{ rel, sig, where string }

// writeFile creates path and hands a buffered writer to fn.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fn(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeRandomHashes writes p.hashes lines "md5:size:Bench.Hash.N". Sizes are
// spread log-uniformly from 64 bytes to 32 MiB, like real hash databases
// where most entries are small and almost every small size occurs.
func writeRandomHashes(w *bufio.Writer, p params) error {
	r := newRnd(p.seed, streamHashes)
	var sum [16]byte
	line := make([]byte, 0, 80)
	for i := 1; i <= p.hashes; i++ {
		r.fill(sum[:])
		line = line[:0]
		line = hex.AppendEncode(line, sum[:])
		line = append(line, ':')
		line = appendInt(line, r.logUniform(64, 32<<20))
		line = append(line, ":Bench.Hash."...)
		line = appendInt(line, i)
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// fileResult is what the writer learned about a generated file.
type fileResult struct {
	size   int64
	md5    [16]byte
	member *memberHash
}

type memberHash struct {
	name string
	size int
	md5  [16]byte
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }
