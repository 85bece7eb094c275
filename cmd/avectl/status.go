package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"ave/pkg/scanclient"
	avev1 "ave/proto/ave/v1"
)

func cmdStatus(c *scanclient.Client, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 0, "wait up to this long for the daemon to answer (it loads its DB before it listens), e.g. 30s")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *wait < 0 {
		fmt.Fprintln(stderr, "avectl: status: -wait must not be negative")
		return 2
	}
	var s *avev1.StatusResponse
	var err error
	if *wait > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), *wait)
		s, err = c.WaitReady(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "avectl: status: no answer within %s: %v\n", *wait, err)
			return 2
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err = c.Status(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(stderr, "avectl: status:", err)
		return 2
	}
	if *asJSON {
		b, _ := json.Marshal(s)
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stdout, "database:     %s (loaded %s)\n", s.GetDbVersion(), time.Unix(s.GetDbLoadedUnix(), 0).UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "signatures:   %s\n", sortedCounts(s.GetSignatures()))
	fmt.Fprintf(stdout, "untranslated: %d\n", s.GetUntranslatable())
	fmt.Fprintf(stdout, "uptime:       %s\n", time.Duration(s.GetUptimeS())*time.Second)
	fmt.Fprintf(stdout, "workers:      %d busy, %d idle\n", s.GetWorkersBusy(), s.GetWorkers()-s.GetWorkersBusy())
	fmt.Fprintf(stdout, "queue:        %d of %d\n", s.GetQueueLength(), s.GetQueueCapacity())
	fmt.Fprintf(stdout, "scans:        %s\n", sortedCounts(s.GetTotals()))
	fmt.Fprintf(stdout, "cache:        %d hits, %d misses, %d entries\n", s.GetCacheHits(), s.GetCacheMisses(), s.GetCacheEntries())
	fmt.Fprintf(stdout, "reloads:      %d, %d rejected\n", s.GetReloads(), s.GetReloadFailures())
	if e := s.GetLastReloadError(); e != "" {
		fmt.Fprintf(stdout, "last reload error: %s\n", e)
	}
	return 0
}

// sortedCounts renders a map as "a=1 b=2" in key order.
func sortedCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
