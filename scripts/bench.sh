#!/usr/bin/env bash
# AVE benchmark: signature DB load time, memory and scan throughput of
# aveserver, compared with clamd/clamdscan and the yara CLI on the same
# generated signatures and corpus. Run from the repository root after
# `make build` (`make bench` does both). Writes bench-out/results.md.
#
# Knobs (environment):
#   BENCH_MB=500 BENCH_HASHES=1000000 BENCH_NDB=20000 BENCH_YARA=1000 BENCH_SEED=42
#   BENCH_OUT=bench-out            output directory (data is reused between runs)
#   BENCH_ONLY="ave clamd yara kav breakdown go mail formats"  parts to run (breakdown: MB/s per kind of file;
#                                  kav: kavscanner first and cached scans vs clamdscan and clamscan;
#                                  mail: msgs/s and latency through smtpscanner + aveserver, amavisd-new +
#                                  clamd, and a bare SMTP sink, at 2, 4 and 8 clients)
#   BENCH_MAIL_N=2000              messages per mail run (median ~15 KB, tail to 2 MB, 1% EICAR)
#   BENCH_MAIL_CLIENTS="2 4 8"     concurrent SMTP clients
#   BENCH_MAIL_AMAVIS_SERVERS=2    amavisd $max_servers (a list runs amavisd once per value)
#   BENCH_MAIL_REPS=3              runs of the sink and of smtpscanner + aveserver per client count,
#                                  alternating; the report shows the median run (amavisd-new: one run)
#   (part formats: `go run ./scripts/formatbench`, pkg/unpack decode MB/s per format and bombs
#    under the default limits; needs neither the corpus nor the daemons)
#   BENCH_LOAD_TIMEOUT=300         seconds to wait for a daemon to load its DB
#   BENCH_SCAN_TIMEOUT=3600        seconds before a scan is killed
#   BENCH_IDLE_WAIT=120            seconds to wait, before each measurement, for the
#                                  machine to be idle (other processes < 10% of the CPUs)
# Quick run: BENCH_MB=50 BENCH_HASHES=100000 BENCH_NDB=2000 BENCH_YARA=200 ./scripts/bench.sh
set -euo pipefail

cd "$(dirname "$0")/.."

MB=${BENCH_MB:-500}
HASHES=${BENCH_HASHES:-1000000}
NDB=${BENCH_NDB:-20000}
YARA_N=${BENCH_YARA:-1000}
SEED=${BENCH_SEED:-42}
OUT=${BENCH_OUT:-bench-out}
ONLY=${BENCH_ONLY:-ave clamd yara kav breakdown go mail formats}
MAIL_N=${BENCH_MAIL_N:-2000}
MAIL_CLIENTS=${BENCH_MAIL_CLIENTS:-2 4 8}
MAIL_AMAVIS_SERVERS=${BENCH_MAIL_AMAVIS_SERVERS:-2}
MAIL_REPS=${BENCH_MAIL_REPS:-3}
AMAVISD=${AMAVISD:-/usr/sbin/amavisd}
LOAD_TIMEOUT=${BENCH_LOAD_TIMEOUT:-300}
SCAN_TIMEOUT=${BENCH_SCAN_TIMEOUT:-3600}
IDLE_WAIT=${BENCH_IDLE_WAIT:-120}
CLAMD=${CLAMD:-/usr/sbin/clamd}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA=$OUT/data
CORPUS=$DATA/corpus
DB=$DATA/db
RESULTS=$OUT/results.md

want() { [[ " $ONLY " == *" $1 "* ]]; }
log() { printf '%s\n' "$*" >&2; }

# Unix socket paths are limited to ~108 bytes: keep the temp dir short.
TMP=$(mktemp -d /tmp/avebench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ----

now() { echo "$EPOCHREALTIME"; }
# secs START END -> seconds with 3 decimals
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# div A B [FMT] -> A/B, or "n/a"
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf f, a / b }'; }
# status_kb PID FIELD -> value in kB of a /proc/PID/status field (VmRSS, VmHWM)
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo ""; }
mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "n/a"; }
# cpu_s PID -> user+system CPU seconds of a process so far
cpu_s() {
	local tck
	tck=$(getconf CLK_TCK)
	awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo ""
}
# wait_ready PID TIMEOUT CMD... -> 0 when CMD succeeds, 1 if PID died or time ran out
wait_ready() {
	local pid=$1 limit=$2 start
	shift 2
	start=$SECONDS
	while ! "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		((SECONDS - start < limit)) || return 1
		sleep 0.05
	done
}
# warm: read the corpus once so every tool scans from the page cache
warm() { find "$CORPUS" -type f -print0 | xargs -0 cat >/dev/null; }
# sys_cpu -> "busy total" jiffies of the whole machine, from /proc/stat
sys_cpu() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
# busy_pct -> percentage of all CPUs busy over the next second
busy_pct() {
	local a b
	a=$(sys_cpu)
	sleep 1
	b=$(sys_cpu)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'
}
# wait_idle: the machine may be shared; wait (bounded) until it is quiet
wait_idle() {
	local start=$SECONDS p
	while :; do
		p=$(busy_pct)
		((p < 10)) && return 0
		if ((SECONDS - start >= IDLE_WAIT)); then
			log "  (machine still ${p}% busy with other work after ${IDLE_WAIT}s; measuring anyway)"
			return 0
		fi
	done
}
# measure KEY PID CMD...: warm the cache, wait for an idle machine, run CMD
# and record wall time (R[KEY_s]), exit code (R[KEY_rc]), CPU seconds of
# the command plus of daemon PID (R[KEY_cpu]; PID may be "-") and CPU
# seconds other processes used meanwhile (R[KEY_foreign]).
measure() {
	local key=$1 pid=$2 t0 t1 c0 c1 s0 s1 rc=0 tck
	shift 2
	warm
	wait_idle
	tck=$(getconf CLK_TCK)
	c0=0
	[ "$pid" != - ] && c0=$(cpu_s "$pid")
	s0=$(sys_cpu)
	t0=$(now)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%U %S %M' -o "$TMP/time.$key" timeout "$SCAN_TIMEOUT" "$@" || rc=$?
	else
		timeout "$SCAN_TIMEOUT" "$@" || rc=$?
	fi
	t1=$(now)
	s1=$(sys_cpu)
	c1=0
	[ "$pid" != - ] && c1=$(cpu_s "$pid")
	R[${key}_s]=$(secs "$t0" "$t1")
	R[${key}_rc]=$rc
	local client=0
	if [ -f "$TMP/time.$key" ]; then
		client=$(awk 'END { print $1 + $2 }' "$TMP/time.$key")
		R[${key}_maxrss]=$(awk 'END { print $3 }' "$TMP/time.$key")
	fi
	R[${key}_cpu]=$(awk -v a="$c0" -v b="$c1" -v c="$client" 'BEGIN { printf "%.1f", b - a + c }')
	R[${key}_foreign]=$(awk -v a="$s0" -v b="$s1" -v own="${R[${key}_cpu]}" -v t="$tck" 'BEGIN {
		split(a, x, " "); split(b, y, " "); f = (y[1] - x[1]) / t - own; printf "%.1f", f < 0 ? 0 : f }')
}
# stop_daemon PID: SIGTERM, then SIGKILL after 10 s; forget the PID so the
# exit trap never signals a recycled one.
stop_daemon() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$pid" ] && unset "PIDS[$i]"; done
	return 0
}
# flagged_* print the corpus-relative paths of the files a tool flagged,
# cut back to the top-level file for archive members.
rel_top() {
	local base="$CORPUS/"
	while IFS= read -r p; do
		p=${p#"$base"}
		# "a.zip/member", "a.eml/part": keep the part naming a real file
		while [ -n "$p" ] && [ ! -f "$CORPUS/$p" ] && [[ $p == */* ]]; do p=${p%/*}; done
		printf '%s\n' "$p"
	done | sort -u
}
expected_files() { # $1: awk regex on the signature name
	awk -F'\t' -v re="$1" '!/^#/ && $2 ~ re {
		p = $1
		if ($3 == "hash-member") { i = index(p, ".zip/"); if (i) p = substr(p, 1, i + 3) }
		print p }' "$DATA/expected.tsv" | sort -u
}
# detection_row TOOL FLAGGED_FILE EXPECTED_FILE -> a table row, misses saved
detection_row() {
	local tool=$1 flagged=$2 expected=$3 nf ne hit miss extra
	nf=$(wc -l <"$flagged")
	ne=$(wc -l <"$expected")
	hit=$(comm -12 "$flagged" "$expected" | wc -l)
	comm -13 "$flagged" "$expected" >"$OUT/missed-$tool.txt"
	comm -23 "$flagged" "$expected" >"$OUT/unexpected-$tool.txt"
	miss=$(wc -l <"$OUT/missed-$tool.txt")
	extra=$(wc -l <"$OUT/unexpected-$tool.txt")
	printf '| %s | %s | %s | %s | %s | %s |\n' "$tool" "$nf" "$ne" "$hit" "$miss" "$extra"
}

# ---- formats and bombs (BENCH_ONLY=... formats) ----

# run_formats: scripts/formatbench generates every container and encoding it
# can write (in Go or with a Debian tool) and a set of bombs in memory, walks
# them with pkg/unpack's default limits and prints Markdown tables.
run_formats() {
	log "== formats and bombs (go run ./scripts/formatbench; 2-3 minutes)"
	wait_idle
	if go run ./scripts/formatbench >"$OUT/formats.md" 2>"$OUT/formats.log"; then
		sed 's/^/  /' "$OUT/formats.log" >&2
	else
		log "formatbench failed; see $OUT/formats.log"
		tail -5 "$OUT/formats.log" >&2 || true
	fi
}
# formats_report: the formatbench tables under their own heading
formats_report() {
	[ -s "$OUT/formats.md" ] || return 0
	echo
	echo "## Formats and bombs (scripts/formatbench)"
	echo
	cat "$OUT/formats.md"
}
# formats_summary: its tables on stdout
formats_summary() {
	[ -s "$OUT/formats.md" ] || return 0
	echo
	sed -n '/^| format/,/^$/p;/^| bomb/,/^$/p;/^Limits that did not hold/p;/^Every bomb/p' "$OUT/formats.md"
}

# BENCH_ONLY=formats alone needs neither the corpus nor the daemons: a
# short report, and stop here.
read -ra only_parts <<<"$ONLY"
if [ "${only_parts[*]}" = formats ]; then
	run_formats
	{
		echo "# AVE benchmark results"
		echo
		echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "- machine: $(nproc) vCPU ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
		echo "- AVE: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)'); $(go version | awk '{ print $3 }')"
		formats_report
	} >"$RESULTS"
	formats_summary
	echo "full report: $RESULTS"
	exit 0
fi

# ---- data ----

# The file-scan parts (and their report) need the generated data; the
# mail part makes its own corpus in memory.
FILE_PARTS=0
for p in ave clamd yara kav breakdown go; do want $p && FILE_PARTS=1; done
if ((FILE_PARTS)); then
	log "== generating data in $DATA (reused when unchanged)"
	t0=$(now)
	go run ./scripts/benchgen -out "$DATA" -hashes "$HASHES" -ndb "$NDB" -yara "$YARA_N" -corpus-mb "$MB" -seed "$SEED" >&2
	GEN_S=$(secs "$t0" "$(now)")
	BYTES=$(du -sb "$CORPUS" | awk '{ print $1 }')
	FILES=$(find "$CORPUS" -type f | wc -l)
	CORPUS_MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
	log "corpus: $FILES files, $CORPUS_MB MB"
fi

# mbps SECONDS -> MB/s over the corpus; fps SECONDS -> files/s
mbps() { div "$BYTES" "$(awk -v s="$1" 'BEGIN { print s * 1e6 }')" "%.1f"; }
fps() { div "$FILES" "$1" "%.0f"; }

declare -A R # results by key

# ---- daemons ----

# start_ave LOG [DBDIR]: start aveserver (on the bench DB unless DBDIR),
# wait until `avectl status` answers; sets AVE_PID, AVE_SOCK and AVE_LOAD
# (seconds). Returns 1 if it did not come up.
start_ave() {
	local db=${2:-$DB}
	AVE_SOCK=$TMP/ave.sock
	cat "$db"/* >/dev/null
	wait_idle
	local t0
	t0=$(now)
	bin/aveserver --db "$db" --socket "$AVE_SOCK" 2>"$1" &
	AVE_PID=$!
	PIDS+=("$AVE_PID")
	if ! wait_ready "$AVE_PID" "$LOAD_TIMEOUT" bin/avectl --socket "$AVE_SOCK" status; then
		log "AVE: aveserver did not come up within ${LOAD_TIMEOUT}s; see $1"
		tail -5 "$1" >&2 || true
		stop_daemon "$AVE_PID"
		return 1
	fi
	AVE_LOAD=$(secs "$t0" "$(now)")
}

# start_clamd LOG: write a clamd.conf and start clamd with bench.hdb and
# bench.ndb only; wait until it answers PING; sets CLAMD_PID, CLAMD_CONF
# and CLAMD_LOAD. Returns 1 if it did not come up.
start_clamd() {
	local dir=$TMP/clamd t0
	rm -rf "$dir"
	mkdir -p "$dir/db" "$dir/tmp"
	ln "$DB/bench.hdb" "$DB/bench.ndb" "$dir/db/" 2>/dev/null || cp "$DB/bench.hdb" "$DB/bench.ndb" "$dir/db/"
	CLAMD_CONF=$dir/clamd.conf
	# Limits generous enough for the corpus; clamd runs as the invoking
	# user (no User line), which can read the corpus; --fdpass makes that
	# moot anyway.
	cat >"$CLAMD_CONF" <<-EOF
		LocalSocket $dir/clamd.sock
		FixStaleSocket yes
		DatabaseDirectory $dir/db
		TemporaryDirectory $dir/tmp
		PidFile $dir/clamd.pid
		Foreground yes
		LogSyslog no
		LogFile $1
		LogTime yes
		MaxThreads 2
		MaxQueue 100
		SelfCheck 0
		Bytecode no
		ConcurrentDatabaseReload no
		MaxFileSize 100M
		MaxScanSize 100M
		StreamMaxLength 100M
		MaxRecursion 16
		MaxFiles 10000
	EOF
	: >"$1"
	cat "$dir"/db/* >/dev/null
	wait_idle
	t0=$(now)
	"$CLAMD" -c "$CLAMD_CONF" >>"$1" 2>&1 &
	CLAMD_PID=$!
	PIDS+=("$CLAMD_PID")
	if ! wait_ready "$CLAMD_PID" "$LOAD_TIMEOUT" clamdscan -c "$CLAMD_CONF" --ping 1; then
		log "clamd: did not answer PING within ${LOAD_TIMEOUT}s; see $1"
		tail -5 "$1" >&2 || true
		stop_daemon "$CLAMD_PID"
		return 1
	fi
	CLAMD_LOAD=$(secs "$t0" "$(now)")
}

have_ave() { [ -x bin/aveserver ] && [ -x bin/avectl ]; }
have_clamd() { command -v clamdscan >/dev/null && [ -x "$CLAMD" ]; }
have_yara() { command -v yara >/dev/null && command -v yarac >/dev/null; }

# ---- AVE ----

run_ave() {
	have_ave || { log "AVE: bin/aveserver or bin/avectl missing (run make build): skipped"; return; }
	log "== AVE"
	start_ave "$OUT/aveserver.log" || return 0
	local pid=$AVE_PID sock=$AVE_SOCK
	R[ave_load]=$AVE_LOAD
	R[ave_rss]=$(status_kb "$pid" VmRSS)
	R[ave_load_cpu]=$(cpu_s "$pid")
	bin/avectl --socket "$sock" status >"$OUT/ave-status.txt" 2>&1 || true
	log "AVE: loaded in ${R[ave_load]} s, RSS $(mib "${R[ave_rss]}") MiB"
	sed 's/^/  /' "$OUT/ave-status.txt" >&2

	local run
	for run in 1 2; do
		measure "ave$run" "$pid" sh -c 'exec "$@" >"$0" 2>"$0.err"' "$OUT/ave-scan$run.txt" \
			bin/avectl --socket "$sock" scan --jobs 4 --server-path --quiet "$CORPUS"
		R[ave_err$run]=$(wc -l <"$OUT/ave-scan$run.txt.err")
		log "AVE scan $run: ${R[ave${run}_s]} s, $(mbps "${R[ave${run}_s]}") MB/s, exit ${R[ave${run}_rc]}, CPU ${R[ave${run}_cpu]} s (others ${R[ave${run}_foreign]} s), $(wc -l <"$OUT/ave-scan$run.txt") lines, ${R[ave_err$run]} stderr lines"
	done
	R[ave_hwm]=$(status_kb "$pid" VmHWM)
	R[ave_rss_end]=$(status_kb "$pid" VmRSS)
	bin/avectl --socket "$sock" status >"$OUT/ave-status-end.txt" 2>&1 || true
	stop_daemon "$pid"
	# "PATH: STATUS Name (reason)"
	sed -n 's/^\(.*\): \(INFECTED\|SUSPICIOUS\) .*$/\1/p' "$OUT/ave-scan1.txt" | rel_top >"$TMP/ave.flagged"
	R[ave_unchecked]=$(grep -c ': UNCHECKED' "$OUT/ave-scan1.txt" || true)
	R[ave_corrupted]=$(grep -c ': CORRUPTED' "$OUT/ave-scan1.txt" || true)
}

# ---- clamd ----

run_clamd() {
	have_clamd || { log "clamd: clamd/clamdscan not installed (scripts/install-deps.sh bench): skipped"; return; }
	log "== clamd"
	start_clamd "$OUT/clamd.log" || return 0
	local pid=$CLAMD_PID
	R[clamd_load]=$CLAMD_LOAD
	R[clamd_rss]=$(status_kb "$pid" VmRSS)
	R[clamd_load_cpu]=$(cpu_s "$pid")
	R[clamd_sigs]=$(grep -o 'Loaded [0-9]* signatures' "$OUT/clamd.log" | tail -1 || true)
	log "clamd: loaded in ${R[clamd_load]} s, RSS $(mib "${R[clamd_rss]}") MiB; ${R[clamd_sigs]}"
	local run
	for run in 1 2; do
		measure "clamd$run" "$pid" sh -c 'exec "$@" >"$0" 2>&1' "$OUT/clamd-scan$run.txt" \
			clamdscan -c "$CLAMD_CONF" --multiscan --fdpass --infected --no-summary "$CORPUS"
		R[clamd_err$run]=$(grep -c 'ERROR' "$OUT/clamd-scan$run.txt" || true)
		log "clamd scan $run: ${R[clamd${run}_s]} s, $(mbps "${R[clamd${run}_s]}") MB/s, exit ${R[clamd${run}_rc]}, CPU ${R[clamd${run}_cpu]} s (others ${R[clamd${run}_foreign]} s), $(grep -c FOUND "$OUT/clamd-scan$run.txt" || true) found, ${R[clamd_err$run]} errors"
	done
	R[clamd_hwm]=$(status_kb "$pid" VmHWM)
	R[clamd_rss_end]=$(status_kb "$pid" VmRSS)
	stop_daemon "$pid"
	sed -n 's/^\(.*\): .* FOUND$/\1/p' "$OUT/clamd-scan1.txt" | rel_top >"$TMP/clamd.flagged"
}

# ---- yara CLI ----

run_yara() {
	have_yara || { log "yara: not installed (scripts/install-deps.sh bench): skipped"; return; }
	log "== yara CLI"
	local t0 t1
	wait_idle
	t0=$(now)
	yarac -w "$DB/bench.yar" "$TMP/bench.yarc"
	t1=$(now)
	R[yara_compile]=$(secs "$t0" "$t1")
	# -w: the generated rules have short atoms on purpose; no warnings.
	measure yara1 - sh -c 'exec "$@" >"$0" 2>"$0.err"' "$OUT/yara-scan.txt" \
		yara -w -r -p 2 "$DB/bench.yar" "$CORPUS"
	R[yara_hwm]=${R[yara1_maxrss]:-}
	R[yara_err1]=$(wc -l <"$OUT/yara-scan.txt.err")
	log "yara: compile ${R[yara_compile]} s; scan ${R[yara1_s]} s, $(mbps "${R[yara1_s]}") MB/s, exit ${R[yara1_rc]}, CPU ${R[yara1_cpu]} s (others ${R[yara1_foreign]} s), $(wc -l <"$OUT/yara-scan.txt") matches"
	awk '{ $1 = ""; sub(/^ /, ""); print }' "$OUT/yara-scan.txt" | rel_top >"$TMP/yara.flagged"
}

# ---- per-category breakdown (BENCH_ONLY=... breakdown) ----

CATEGORIES="docs/text docs/data logs web docs/pdf docs/office images bin/windows bin/linux archives mail"
BREAKDOWN_ROWS=()
run_breakdown() {
	log "== per-category breakdown (first scans; each file is scanned once per tool)"
	local ave_ok=0 clamd_ok=0 cat d bytes files row key
	if have_ave && start_ave "$OUT/aveserver-breakdown.log"; then ave_ok=1; fi
	if have_clamd && start_clamd "$OUT/clamd-breakdown.log"; then clamd_ok=1; fi
	for cat in $CATEGORIES; do
		d=$CORPUS/$cat
		[ -d "$d" ] || continue
		bytes=$(du -sb "$d" | awk '{ print $1 }')
		files=$(find "$d" -type f | wc -l)
		row="| $cat | $files | $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')"
		key=bd_${cat//\//_}
		if ((ave_ok)); then
			measure "${key}_ave" "$AVE_PID" sh -c 'exec "$@" >/dev/null 2>&1' - \
				bin/avectl --socket "$AVE_SOCK" scan --jobs 4 --server-path --quiet "$d"
			row+=" | $(div "$bytes" "$(awk -v s="${R[${key}_ave_s]}" 'BEGIN { print s * 1e6 }')" %.1f)"
		else row+=" | n/a"; fi
		if ((clamd_ok)); then
			measure "${key}_clamd" "$CLAMD_PID" sh -c 'exec "$@" >/dev/null 2>&1' - \
				clamdscan -c "$CLAMD_CONF" --multiscan --fdpass --infected --no-summary "$d"
			row+=" | $(div "$bytes" "$(awk -v s="${R[${key}_clamd_s]}" 'BEGIN { print s * 1e6 }')" %.1f)"
		else row+=" | n/a"; fi
		if have_yara; then
			measure "${key}_yara" - sh -c 'exec "$@" >/dev/null 2>&1' - yara -w -r -p 2 "$DB/bench.yar" "$d"
			row+=" | $(div "$bytes" "$(awk -v s="${R[${key}_yara_s]}" 'BEGIN { print s * 1e6 }')" %.1f)"
		else row+=" | n/a"; fi
		BREAKDOWN_ROWS+=("$row |")
		log "  $row |"
	done
	((ave_ok)) && stop_daemon "$AVE_PID"
	((clamd_ok)) && stop_daemon "$CLAMD_PID"
	return 0
}

# ---- kavscanner (BENCH_ONLY=... kav) ----

# clamscan_db: a directory with bench.hdb + bench.ndb only, as clamd gets
# (clamscan would also load bench.yar from the DB directory).
clamscan_db() {
	local dir=$TMP/clamscan-db
	mkdir -p "$dir"
	ln -f "$DB/bench.hdb" "$DB/bench.ndb" "$dir/" 2>/dev/null || cp "$DB/bench.hdb" "$DB/bench.ndb" "$dir/"
	echo "$dir"
}
# clamscan's limits set like clamd.conf's (its defaults differ slightly).
CLAMSCAN_OPTS=(--bytecode=no --max-filesize=100M --max-scansize=100M --max-recursion=16 --max-files=10000)

run_kav() {
	{ have_ave && [ -x bin/kavscanner ]; } || { log "kavscanner: bin/kavscanner, bin/aveserver or bin/avectl missing (run make build): skipped"; return; }
	log "== kavscanner"
	if start_ave "$OUT/aveserver-kav.log"; then
		local pid=$AVE_PID sock=$AVE_SOCK cache=$TMP/kav/scan.cache run
		R[kav_load]=$AVE_LOAD
		mkdir -p "$TMP/kav"
		rm -f "$cache"
		for run in 1 2; do
			# -o ... --report-level errors: the run's summary (scanned / unchanged
			# counts) goes to a file; the console stays as quiet as with -q alone.
			measure "kav$run" "$pid" sh -c 'exec "$@" >"$0" 2>"$0.err"' "$OUT/kav-scan$run.txt" \
				bin/kavscanner --socket "$sock" --cache-file "$cache" -q --no-progress \
				-o "$OUT/kav-report$run.txt" --report-level errors "$CORPUS"
			R[kav_err$run]=$(wc -l <"$OUT/kav-scan$run.txt.err")
			R[kav_found$run]=$(grep -c ': \(INFECTED\|SUSPICIOUS\) ' "$OUT/kav-scan$run.txt" || true)
			R[kav_sum$run]=$(grep -o 'files [0-9]* (scanned [0-9]*, unchanged since the last scan [0-9]*)' "$OUT/kav-report$run.txt" 2>/dev/null || true)
			[ -f "$cache" ] && R[kav_cache_kb$run]=$(du -k "$cache" | awk '{ print $1 }')
			log "kavscanner scan $run: ${R[kav${run}_s]} s, $(mbps "${R[kav${run}_s]}") MB/s, exit ${R[kav${run}_rc]}, CPU ${R[kav${run}_cpu]} s (others ${R[kav${run}_foreign]} s), ${R[kav_found$run]} found lines, ${R[kav_err$run]} stderr lines; ${R[kav_sum$run]:-no summary}"
		done
		stop_daemon "$pid"
		sed -n 's/^\(.*\): \(INFECTED\|SUSPICIOUS\) .*$/\1/p' "$OUT/kav-scan1.txt" | rel_top >"$TMP/kav.flagged"
		R[kav_unchecked]=$(grep -c ': UNCHECKED' "$OUT/kav-scan1.txt" || true)
		R[kav_corrupted]=$(grep -c ': CORRUPTED' "$OUT/kav-scan1.txt" || true)
	fi

	# clamdscan: the first scan of the clamd part when it ran, else one here.
	if [ -n "${R[clamd1_s]:-}" ]; then
		KAV_CLAMD=clamd1
		log "clamdscan: first scan of the clamd part reused (${R[clamd1_s]} s)"
	elif have_clamd; then
		if start_clamd "$OUT/clamd-kav.log"; then
			measure kclamd1 "$CLAMD_PID" sh -c 'exec "$@" >"$0" 2>&1' "$OUT/clamd-kav-scan1.txt" \
				clamdscan -c "$CLAMD_CONF" --multiscan --fdpass --infected --no-summary "$CORPUS"
			stop_daemon "$CLAMD_PID"
			KAV_CLAMD=kclamd1
			log "clamdscan (fresh clamd): ${R[kclamd1_s]} s, $(mbps "${R[kclamd1_s]}") MB/s, exit ${R[kclamd1_rc]}, CPU ${R[kclamd1_cpu]} s (others ${R[kclamd1_foreign]} s)"
		fi
	else
		log "clamdscan: clamd/clamdscan not installed: no comparison"
	fi

	# clamscan loads the DB itself on every run: the timed run includes the load.
	if command -v clamscan >/dev/null; then
		local cdb
		cdb=$(clamscan_db)
		: >"$TMP/empty"
		cat "$cdb"/* >/dev/null
		wait_idle
		local t0
		t0=$(now)
		clamscan "${CLAMSCAN_OPTS[@]}" --no-summary -d "$cdb" "$TMP/empty" >/dev/null 2>&1 || true
		R[clamscan_load]=$(secs "$t0" "$(now)")
		log "clamscan: DB load + scan of an empty file ${R[clamscan_load]} s"
		measure clamscan1 - sh -c 'exec "$@" >"$0" 2>"$0.err"' "$OUT/clamscan-scan1.txt" \
			clamscan "${CLAMSCAN_OPTS[@]}" -r --infected --no-summary -d "$cdb" "$CORPUS"
		R[clamscan_err1]=$(grep -c 'ERROR' "$OUT/clamscan-scan1.txt.err" || true)
		if [ "${R[clamscan1_rc]}" = 124 ]; then
			log "clamscan: timed out after ${SCAN_TIMEOUT}s (BENCH_SCAN_TIMEOUT)"
		else
			log "clamscan: ${R[clamscan1_s]} s, $(mbps "${R[clamscan1_s]}") MB/s, exit ${R[clamscan1_rc]}, CPU ${R[clamscan1_cpu]} s (others ${R[clamscan1_foreign]} s), $(grep -c FOUND "$OUT/clamscan-scan1.txt" || true) found"
			sed -n 's/^\(.*\): .* FOUND$/\1/p' "$OUT/clamscan-scan1.txt" | rel_top >"$TMP/clamscan.flagged"
		fi
	else
		log "clamscan: not installed (scripts/install-deps.sh bench): skipped"
	fi
	return 0
}

# ---- mail: smtpscanner + aveserver, amavisd-new + clamd, the sink alone ----

# port_open PORT -> 0 when something accepts TCP connections on 127.0.0.1:PORT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# kv LINE KEY -> the value of KEY=... in a mailbench send line
kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$1"; }
# stop_tree PID: stop_daemon, and its child processes too (amavisd's)
stop_tree() {
	local kids k
	kids=$(pgrep -P "$1" 2>/dev/null || true)
	stop_daemon "$1"
	for k in $kids; do
		kill -0 "$k" 2>/dev/null && kill "$k" 2>/dev/null
	done
	sleep 0.2
	for k in $kids; do kill -0 "$k" 2>/dev/null && kill -9 "$k" 2>/dev/null; done
	return 0
}
# mail_send KEY ADDR CLIENTS: send the corpus (content pass CLIENTS) to ADDR once; the
# send line goes to $MAIL_DIR/KEY.runs and $OUT/mail-runs.txt
mail_send() {
	local key=$1 addr=$2 clients=$3 line rc=0
	wait_idle
	line=$(timeout "$SCAN_TIMEOUT" "$MAILBENCH" send -addr "$addr" -clients "$clients" -n "$MAIL_N" -pass "$clients" \
		-sink-stats "$MAIL_DIR/sink.stats" 2>>"$OUT/mail-send.log") || rc=$?
	if [ "$rc" != 0 ] || [ -z "$line" ]; then
		log "  $key: mailbench send failed (exit $rc); see $OUT/mail-send.log"
		return 0
	fi
	echo "$key clients=$clients $line" >>"$OUT/mail-runs.txt"
	echo "$line" >>"$MAIL_DIR/$key.runs"
	log "  $key, $clients clients: $(kv "$line" rate) msgs/s (machine CPU $(kv "$line" cpu) s in $(kv "$line" secs) s)"
}
# mail_pick KEY CLIENTS: record the median run of KEY by rate (of an even count, the
# lower middle one) as R[KEY_{rate,p50_ms,p99_ms,ok,rejected,tempfail,errors,sink,secs,mb,cpu,runs}]
mail_pick() {
	local key=$1 clients=$2 line f n
	[ -s "$MAIL_DIR/$key.runs" ] || return 0
	n=$(wc -l <"$MAIL_DIR/$key.runs")
	line=$(while read -r l; do echo "$(kv "$l" rate) $l"; done <"$MAIL_DIR/$key.runs" | sort -n -k1,1 |
		sed -n "$(((n + 1) / 2))p" | cut -d' ' -f2-)
	# cpu: machine-wide CPU seconds used during the timed run (this benchmark's processes included)
	for f in rate p50_ms p99_ms ok rejected tempfail errors sink secs mb cpu; do R[${key}_$f]=$(kv "$line" "$f"); done
	R[${key}_runs]=$(while read -r l; do kv "$l" rate; done <"$MAIL_DIR/$key.runs" | paste -sd/)
	log "  $key, $clients clients (median of $n): ${R[${key}_rate]} msgs/s, p50 ${R[${key}_p50_ms]} ms, p99 ${R[${key}_p99_ms]} ms; 250 ${R[${key}_ok]}, 5xx ${R[${key}_rejected]}, 4xx ${R[${key}_tempfail]}, errors ${R[${key}_errors]}, sink got ${R[${key}_sink]}; machine CPU ${R[${key}_cpu]} s in ${R[${key}_secs]} s"
}
# mail_run KEY ADDR CLIENTS: one run, recorded as mail_pick does
mail_run() {
	mail_send "$@"
	mail_pick "$1" "$3"
}

# start_mail_clamd DIR: a private clamd whose only signature is EICAR's MD5
# (amavisd hands it the decoded parts); sets MCLAMD_PID and MCLAMD_SOCK.
start_mail_clamd() {
	local dir=$1
	mkdir -p "$dir/db" "$dir/tmp"
	echo "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature" >"$dir/db/test.hdb"
	MCLAMD_SOCK=$dir/clamd.sock
	cat >"$dir/clamd.conf" <<-EOF
		LocalSocket $MCLAMD_SOCK
		LocalSocketMode 666
		FixStaleSocket yes
		DatabaseDirectory $dir/db
		TemporaryDirectory $dir/tmp
		Foreground yes
		LogSyslog no
		LogFile $dir/clamd.log
		MaxThreads 4
		SelfCheck 0
		Bytecode no
	EOF
	"$CLAMD" -c "$dir/clamd.conf" >>"$dir/clamd.out" 2>&1 &
	MCLAMD_PID=$!
	PIDS+=("$MCLAMD_PID")
	if ! wait_ready "$MCLAMD_PID" "$LOAD_TIMEOUT" clamdscan -c "$dir/clamd.conf" --ping 1; then
		log "clamd (mail): did not answer PING within ${LOAD_TIMEOUT}s; see $dir/clamd.log"
		cp "$dir/clamd.log" "$OUT/mail-clamd.log" 2>/dev/null || true
		stop_daemon "$MCLAMD_PID"
		return 1
	fi
}

# start_amavisd DIR SERVERS PORT SINKPORT: amavisd-new in the foreground with
# a private configuration: Debian's defaults (conf.d), then virus checks on
# through the private clamd, spam checks off, no quarantine, viruses
# rejected (554, like smtpscanner's default), listening on 127.0.0.1:PORT
# and forwarding to the sink. Sets AMAVIS_PID.
start_amavisd() {
	local dir=$1 servers=$2 port=$3 sinkport=$4 f inc=""
	mkdir -p "$dir/home/tmp" "$dir/home/db" "$dir/home/var"
	for f in /usr/share/amavis/conf.d/10-debian_scripts /usr/share/amavis/conf.d/20-package \
		/etc/amavis/conf.d/01-debian /etc/amavis/conf.d/15-av_scanners /etc/amavis/conf.d/20-debian_defaults \
		/etc/amavis/conf.d/30-template_localization; do
		[ -r "$f" ] && inc+="include_config_files('$f');"$'\n'
	done
	cat >"$dir/amavisd.conf" <<-EOF
		use strict;
		\$myhostname = 'amavis.bench.test';
		\$mydomain = 'bench.test';
		$inc
		\$daemon_user  = 'amavis';
		\$daemon_group = 'amavis';
		\$MYHOME   = '$dir/home';
		\$TEMPBASE = '$dir/home/tmp';
		\$ENV{TMPDIR} = \$TEMPBASE;
		\$db_home  = '$dir/home/db';
		\$pid_file  = '$dir/home/var/amavisd.pid';
		\$lock_file = '$dir/home/var/amavisd.lock';
		\$DO_SYSLOG = 0;
		\$LOGFILE = '$dir/home/amavis.log';
		\$log_level = 0;
		\$inet_socket_bind = '127.0.0.1';
		\$inet_socket_port = $port;
		@inet_acl = qw(127.0.0.1);
		@mynetworks = qw(127.0.0.0/8);
		@local_domains_maps = ( [".\$mydomain", '.example.net'] );
		\$forward_method = 'smtp:[127.0.0.1]:$sinkport';
		\$notify_method  = 'smtp:[127.0.0.1]:$sinkport';
		\$max_servers = $servers;
		\$max_requests = 20;
		@bypass_spam_checks_maps  = (1);
		@bypass_virus_checks_maps = (0);
		\$enable_dkim_verification = 0;
		\$enable_dkim_signing = 0;
		\$final_virus_destiny = D_REJECT;
		\$QUARANTINEDIR = undef;
		\$virus_quarantine_method = undef;
		\$banned_files_quarantine_method = undef;
		\$bad_header_quarantine_method = undef;
		\$spam_quarantine_method = undef;
		\$clean_quarantine_method = undef;
		\$archive_quarantine_method = undef;
		\$virus_admin = undef;
		\$warnvirussender = 0;
		\$warnvirusrecip = 0;
		@av_scanners = (
		  ['ClamAV-clamd', \\&ask_daemon, ["CONTSCAN {}\\n", '$MCLAMD_SOCK'],
		    qr/\\bOK\$/m, qr/\\bFOUND\$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND\$/m ],
		);
		@av_scanners_backup = ();
		1;
	EOF
	chown -R amavis:amavis "$dir/home"
	"$AMAVISD" -c "$dir/amavisd.conf" foreground >"$dir/amavisd.out" 2>&1 &
	AMAVIS_PID=$!
	PIDS+=("$AMAVIS_PID")
	if ! wait_ready "$AMAVIS_PID" "$LOAD_TIMEOUT" port_open "$port"; then
		log "amavisd: not listening on 127.0.0.1:$port within ${LOAD_TIMEOUT}s; see $OUT/mail-amavisd.out"
		cp "$dir/amavisd.out" "$OUT/mail-amavisd.out" 2>/dev/null || true
		tail -5 "$dir/amavisd.out" >&2 || true
		stop_tree "$AMAVIS_PID"
		return 1
	fi
}

MAIL_CONFIGS=()
# write_sc_conf FILE PORT SPOOL CHECK: an smtpscanner configuration for the mail part:
# forward to the sink, infected mail rejected, no quarantine, Check=CHECK
write_sc_conf() {
	mkdir -p "$3"
	cat >"$1" <<-EOF
		[smtpscan.general]
		ListenAddress=127.0.0.1:$2
		Protocol=smtp
		ForwardMailer=smtp:$sink_addr
		SpoolDir=$3
		ServerAddress=$AVE_SOCK
		Hostname=scanner.bench.test
		QuarantineKeyFile=$MAIL_DIR/quarantine.key
		[smtpscan.group:default]
		Check=$4
		InfectedRecipientAction=reject
		CuredRecipientAction=reject
		SuspiciousRecipientAction=reject
		Quarantine=no
	EOF
}

# start_mail_sc KEY CHECK LABEL: start an smtpscanner (configuration write_sc_conf, Check=CHECK)
# on a free port; on success add KEY|LABEL to the report and return 0. Sets SC_PORT and SC_PID.
start_mail_sc() {
	SC_PORT=$("$MAILBENCH" freeport)
	write_sc_conf "$MAIL_DIR/$1.conf" "$SC_PORT" "$MAIL_DIR/$1-spool" "$2"
	bin/smtpscanner -c "$MAIL_DIR/$1.conf" 2>"$OUT/mail-smtpscanner-$1.log" &
	SC_PID=$!
	PIDS+=("$SC_PID")
	if ! wait_ready "$SC_PID" 30 port_open "$SC_PORT"; then
		log "smtpscanner ($1) did not listen on 127.0.0.1:$SC_PORT; see $OUT/mail-smtpscanner-$1.log"
		return 1
	fi
	MAIL_CONFIGS+=("$1|$3")
}

run_mail() {
	log "== mail: $MAIL_N messages per run, clients $MAIL_CLIENTS"
	MAIL_DIR=$TMP/mail
	mkdir -p "$MAIL_DIR"
	# amavisd runs as the amavis user: it must reach its home below $TMP.
	chmod 711 "$TMP" "$MAIL_DIR"
	MAILBENCH=$MAIL_DIR/mailbench
	go build -o "$MAILBENCH" ./scripts/mailbench || { log "mail: building scripts/mailbench failed: skipped"; return 0; }
	: >"$OUT/mail-runs.txt"
	: >"$OUT/mail-send.log"
	R[mail_corpus]=$("$MAILBENCH" corpus -n "$MAIL_N")
	log "corpus: ${R[mail_corpus]}"

	"$MAILBENCH" sink -listen 127.0.0.1:0 -stats "$MAIL_DIR/sink.stats" -addr-file "$MAIL_DIR/sink.addr" \
		>/dev/null 2>"$OUT/mail-sink.log" &
	local sink_pid=$! c
	PIDS+=("$sink_pid")
	if ! wait_ready "$sink_pid" 30 test -s "$MAIL_DIR/sink.addr"; then
		log "mail: the sink did not start; see $OUT/mail-sink.log"
		stop_daemon "$sink_pid"
		return 0
	fi
	local sink_addr sink_port
	sink_addr=$(cat "$MAIL_DIR/sink.addr")
	sink_port=${sink_addr##*:}

	# The sink and smtpscanner + aveserver are measured in turns, MAIL_REPS times per client
	# count, so that both meet the same moments of a shared machine; each run is seconds long
	# and the report shows the median. amavisd-new's runs take minutes: one each.
	MAIL_CONFIGS+=("sink|the sink alone (go-smtp, reads and drops)")
	local ave_port="" relay_port="" rep sc_pid="" relay_pid=""
	if have_ave && [ -x bin/smtpscanner ]; then
		if start_ave "$OUT/mail-aveserver.log" etc/db; then
			start_mail_sc ave yes "smtpscanner + aveserver (etc/db) -> sink" && ave_port=$SC_PORT
			sc_pid=$SC_PID
			# The same smtpscanner with Check=no: spool, sync and forward, no scan. What the
			# filter costs without the virus scan: a ceiling for any scanner behind it.
			start_mail_sc relay no "smtpscanner with Check=no (spool + forward, no scan) -> sink" && relay_port=$SC_PORT
			relay_pid=$SC_PID
		fi
	else
		log "mail: bin/aveserver, bin/avectl or bin/smtpscanner missing (run make build): AVE skipped"
	fi
	for c in $MAIL_CLIENTS; do
		for rep in $(seq "$MAIL_REPS"); do
			log "-- $c clients, run $rep of $MAIL_REPS: the sink alone ($sink_addr)${ave_port:+, smtpscanner + aveserver}${relay_port:+, smtpscanner with Check=no}"
			mail_send "mail_sink_$c" "$sink_addr" "$c"
			[ -n "$ave_port" ] && mail_send "mail_ave_$c" "127.0.0.1:$ave_port" "$c"
			[ -n "$relay_port" ] && mail_send "mail_relay_$c" "127.0.0.1:$relay_port" "$c"
		done
		mail_pick "mail_sink_$c" "$c"
		[ -n "$ave_port" ] && mail_pick "mail_ave_$c" "$c"
		[ -n "$relay_port" ] && mail_pick "mail_relay_$c" "$c"
	done
	[ -n "$relay_pid" ] && stop_daemon "$relay_pid"
	[ -n "$sc_pid" ] && stop_daemon "$sc_pid"
	[ -n "$sc_pid" ] && stop_daemon "$AVE_PID"

	if [ -x "$AMAVISD" ] && have_clamd && id amavis >/dev/null 2>&1; then
		local n port best="" bkey
		for n in $MAIL_AMAVIS_SERVERS; do
			log "-- amavisd-new (\$max_servers = $n) + clamd -> sink"
			rm -rf "$MAIL_DIR/amavis"
			mkdir -p "$MAIL_DIR/amavis"
			chmod 755 "$MAIL_DIR/amavis"
			start_mail_clamd "$MAIL_DIR/amavis/clamd" || continue
			port=$("$MAILBENCH" freeport)
			if start_amavisd "$MAIL_DIR/amavis" "$n" "$port" "$sink_port"; then
				MAIL_CONFIGS+=("amavis$n|amavisd-new (\$max_servers = $n) + clamd -> sink")
				for c in $MAIL_CLIENTS; do mail_run "mail_amavis${n}_$c" "127.0.0.1:$port" "$c"; done
				cp "$MAIL_DIR/amavis/home/amavis.log" "$OUT/mail-amavis$n.log" 2>/dev/null || true
				stop_tree "$AMAVIS_PID"
			fi
			stop_daemon "$MCLAMD_PID"
		done
	else
		log "mail: amavisd-new, clamd or the amavis user missing (scripts/install-deps.sh bench): amavisd-new skipped"
	fi
	stop_daemon "$sink_pid"
}

# mail_report: the mail section of the report (markdown) on stdout
mail_report() {
	local cfg key label c best
	echo "### Mail: messages through an SMTP hop on loopback ($MAIL_N messages per run)"
	echo
	echo "- corpus (scripts/mailbench, as cmd/smtpscanner/bench_test.go): ${R[mail_corpus]:-n/a}; fresh random content for each run"
	echo "- one SMTP session per message; latency = connect to QUIT of one message, as the client sees it"
	echo "- the sink, smtpscanner + aveserver and smtpscanner with Check=no: $MAIL_REPS runs per client count, in turns; the row is the median run (by msgs/s), the last column every run; amavisd-new: one run"
	echo
	echo "| mail: path | clients | msgs/s | p50 (ms) | p99 (ms) | 250 | 5xx | 4xx | errors | sink got | machine CPU s | msgs/s of each run |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	for cfg in "${MAIL_CONFIGS[@]}"; do
		key=${cfg%%|*}
		label=${cfg#*|}
		for c in $MAIL_CLIENTS; do
			local k=mail_${key}_$c
			echo "| $label | $c | $(v ${k}_rate) | $(v ${k}_p50_ms) | $(v ${k}_p99_ms) | $(v ${k}_ok) | $(v ${k}_rejected) | $(v ${k}_tempfail) | $(v ${k}_errors) | $(v ${k}_sink) | $(v ${k}_cpu) | $(v ${k}_runs) |"
		done
	done
	echo
	# the best amavisd rate per client count over the $max_servers values tried
	echo "| mail: ratio | $(for c in $MAIL_CLIENTS; do printf '%s clients | ' "$c"; done)target |"
	echo "|---|$(for c in $MAIL_CLIENTS; do printf -- '---|'; done)---|"
	local row_a="| msgs/s AVE / amavisd-new + clamd (best \$max_servers) |" row_s="| msgs/s AVE / the sink alone |" worst_a="" worst_s="" ra rs
	for c in $MAIL_CLIENTS; do
		best=""
		local n
		for n in $MAIL_AMAVIS_SERVERS; do
			local r=${R[mail_amavis${n}_${c}_rate]:-}
			[ -n "$r" ] && { [ -z "$best" ] || awk -v a="$r" -v b="$best" 'BEGIN { exit !(a > b) }'; } && best=$r
		done
		ra=$(div "${R[mail_ave_${c}_rate]:-}" "$best" %.1f)
		rs=$(div "${R[mail_ave_${c}_rate]:-}" "${R[mail_sink_${c}_rate]:-}" %.2f)
		row_a+=" $ra |"
		row_s+=" $rs |"
		[ "$ra" != n/a ] && { [ -z "$worst_a" ] || awk -v a="$ra" -v b="$worst_a" 'BEGIN { exit !(a < b) }'; } && worst_a=$ra
		[ "$rs" != n/a ] && { [ -z "$worst_s" ] || awk -v a="$rs" -v b="$worst_s" 'BEGIN { exit !(a < b) }'; } && worst_s=$rs
	done
	echo "$row_a >= 20 at every client count: $(verdict "${worst_a:-n/a}" '>=' 20) |"
	echo "$row_s >= 0.5 at every client count: $(verdict "${worst_s:-n/a}" '>=' 0.5) |"
	echo "| msgs/s smtpscanner with Check=no / the sink alone (no scan: the filter's own ceiling) |$(for c in $MAIL_CLIENTS; do printf ' %s |' "$(div "${R[mail_relay_${c}_rate]:-}" "${R[mail_sink_${c}_rate]:-}" %.2f)"; done) (reference) |"
	echo
	echo "Paths: the load client (\`scripts/mailbench send\`) -> [filter] -> the sink (\`scripts/mailbench sink\`), all on 127.0.0.1."
	echo "smtpscanner: infected mail rejected (InfectedRecipientAction and CuredRecipientAction=reject, no quarantine), spool in a temp dir, aveserver with etc/db (all defaults: one worker per CPU, result cache on)."
	echo "amavisd-new $(dpkg-query -W -f '${Version}' amavisd-new 2>/dev/null || echo '?'): Debian's conf.d defaults, spam checks off, virus checks through a"
	echo "private clamd ($($CLAMD --version 2>/dev/null | cut -d/ -f1 || echo n/a), only EICAR's MD5 as signature, MaxThreads 4, CONTSCAN over a unix socket),"
	echo "\$final_virus_destiny = D_REJECT, no quarantine, no notifications; banned-file checks as in Debian's defaults."
	echo "\"machine CPU s\" is all CPU time used on the machine during the run, this benchmark's processes included: on a shared"
	echo "machine, compare it with what the run itself needs. Per-message lines: $OUT/mail-runs.txt."
}

want ave && run_ave
want clamd && run_clamd
want yara && run_yara
want kav && run_kav
want breakdown && run_breakdown
want mail && run_mail

want formats && run_formats

if want go; then
	log "== Go microbenchmarks (go test -run XXX -bench . -benchmem ./pkg/...)"
	go test -run XXX -bench . -benchmem ./pkg/... >"$OUT/gobench.txt" 2>&1 || log "go test -bench failed; see $OUT/gobench.txt"
fi

# ---- report ----

v() { echo "${R[$1]:-n/a}"; }
tp() { [ -n "${R[$1]:-}" ] && mbps "${R[$1]}" || echo "n/a"; }
fp() { [ -n "${R[$1]:-}" ] && fps "${R[$1]}" || echo "n/a"; }
kb() { [ -n "${R[$1]:-}" ] && mib "${R[$1]}" || echo "n/a"; }

# mbcpu KEY -> MB scanned per CPU second
mbcpu() { [ -n "${R[${1}_cpu]:-}" ] && div "$BYTES" "$(awk -v c="${R[${1}_cpu]}" 'BEGIN { print c * 1e6 }')" "%.1f" || echo "n/a"; }
scanrow() { # LABEL KEY
	echo "| $1 | $(v "${2}_s") | $(tp "${2}_s") | $(fp "${2}_s") | $(v "${2}_cpu") | $(mbcpu "$2") | $(v "${2}_foreign") | $(v "${2}_rc") |"
}

AVE_TP=$(tp ave1_s)
CLAMD_TP=$(tp clamd1_s)
YARA_TP=$(tp yara1_s)
R_TP_CLAMD=$(div "$AVE_TP" "$CLAMD_TP")
R_TP_YARA=$(div "$AVE_TP" "$YARA_TP")
R_CPU_CLAMD=$(div "$(mbcpu ave1)" "$(mbcpu clamd1)")
R_CPU_YARA=$(div "$(mbcpu ave1)" "$(mbcpu yara1)")
R_RSS=$(div "$(v ave_rss)" "$(v clamd_rss)")
R_HWM=$(div "$(v ave_hwm)" "$(v clamd_hwm)")
R_LOAD=$(div "$(v ave_load)" "$(v clamd_load)")
verdict() { # VALUE OP LIMIT
	[ "$1" = n/a ] && { echo "n/a"; return; }
	awk -v a="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == ">=") ? a >= l : a <= l; print ok ? "met" : "NOT met" }'
}

# kav part: a scan row that says "timeout" when BENCH_SCAN_TIMEOUT killed the scan
kavrow() { # LABEL KEY
	if [ "${R[${2}_rc]:-}" = 124 ]; then
		echo "| $1 | timeout (> $SCAN_TIMEOUT s) | n/a | n/a | $(v "${2}_cpu") | n/a | $(v "${2}_foreign") | 124 |"
	else
		scanrow "$1" "$2"
	fi
}
# kav_ratio A_KEY B_KEY -> wall time of B / wall time of A (= throughput A / B), or "timeout"
kav_ratio() {
	[ "${R[${1}_rc]:-}" = 124 ] && { echo "n/a (kavscanner timeout)"; return; }
	[ "${R[${2}_rc]:-}" = 124 ] && { echo "> $(div "$SCAN_TIMEOUT" "${R[${1}_s]:-}") (timeout)"; return; }
	div "${R[${2}_s]:-}" "${R[${1}_s]:-}"
}
KAV_CLAMD=${KAV_CLAMD:-clamd1}
R_KAV_REPEAT=$(div "${R[kav1_s]:-}" "${R[kav2_s]:-}" "%.1f")
if [ "${R[kav1_rc]:-}" = 124 ] || [ "${R[kav2_rc]:-}" = 124 ]; then R_KAV_REPEAT="n/a (timeout)"; fi
R_KAV_CLAMD=$(kav_ratio kav1 "$KAV_CLAMD")
R_KAV_CLAMSCAN=$(kav_ratio kav1 clamscan1)
R_KAV_AVECTL=$(kav_ratio kav1 ave1)
# kav_cpu_ratio A_KEY B_KEY -> MB per CPU s of A / of B ("n/a" if either was killed)
kav_cpu_ratio() {
	if [ "${R[${1}_rc]:-}" = 124 ] || [ "${R[${2}_rc]:-}" = 124 ]; then echo "n/a (timeout)"; return; fi
	div "$(mbcpu "$1")" "$(mbcpu "$2")"
}
R_KAV_CPU_CLAMD=$(kav_cpu_ratio kav1 "$KAV_CLAMD")
R_KAV_CPU_CLAMSCAN=$(kav_cpu_ratio kav1 clamscan1)
verdict_num() { [[ $1 =~ ^[0-9.]+$ ]] && verdict "$1" "$2" "$3" || echo "n/a"; }

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
if ((FILE_PARTS)); then
{
	echo "# AVE benchmark results"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) vCPU ($CPU), $MEM RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
	echo "- AVE: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)'); $(go version | awk '{ print $3 }')"
	echo "- clamd: $($CLAMD --version 2>/dev/null || echo n/a); yara: $(yara --version 2>/dev/null || echo n/a)"
	echo "- signatures: $HASHES MD5 hashes (+ a few of corpus files), $NDB ndb body signatures, $YARA_N YARA rules (seed $SEED)"
	echo "- corpus: $FILES files, $CORPUS_MB MB (10^6 bytes; \`du -sb\`), read into the page cache before each scan; data generation ${GEN_S} s"
	echo "- clamd gets bench.hdb + bench.ndb only; the yara CLI gets bench.yar only; AVE gets all three"
	echo
	echo "| | DB load (s) | RSS after load (MiB) | RSS after the scans (MiB) | peak RSS (MiB) |"
	echo "|---|---|---|---|---|"
	echo "| aveserver | $(v ave_load) | $(kb ave_rss) | $(kb ave_rss_end) | $(kb ave_hwm) |"
	echo "| clamd | $(v clamd_load) | $(kb clamd_rss) | $(kb clamd_rss_end) | $(kb clamd_hwm) |"
	echo "| yara CLI | $(v yara_compile) (yarac compile) | | | $(kb yara_hwm) |"
	echo
	echo "| scan of the corpus | wall (s) | MB/s | files/s | CPU s (daemon + client) | MB per CPU s | CPU s used by other processes meanwhile | exit |"
	echo "|---|---|---|---|---|---|---|---|"
	scanrow "AVE: avectl scan --jobs 4 --server-path" ave1
	scanrow "AVE, 2nd run (result cache)" ave2
	scanrow "clamdscan --multiscan --fdpass (MaxThreads 2)" clamd1
	scanrow "clamdscan, 2nd run (clean cache)" clamd2
	scanrow "yara -r -p 2 (compiles the rules too)" yara1
	echo
	echo "The second AVE run is answered mostly from its result cache (keyed by SHA-256); clamd also caches"
	echo "clean files by MD5, so both second runs are \"cached\" figures. The first runs are the real ones."
	echo "Wall-clock figures assume an otherwise idle machine: the column \"CPU s used by other processes\""
	echo "shows how much CPU other work took during the scan; MB per CPU s is less sensitive to that."
	echo
	echo "| ratio | value | target |"
	echo "|---|---|---|"
	echo "| throughput (wall) AVE / clamdscan | $R_TP_CLAMD | >= 5: $(verdict "$R_TP_CLAMD" '>=' 5) |"
	echo "| throughput (wall) AVE / yara CLI | $R_TP_YARA | |"
	echo "| MB per CPU s AVE / clamd | $R_CPU_CLAMD | |"
	echo "| MB per CPU s AVE / yara CLI | $R_CPU_YARA | |"
	echo "| RSS after load AVE / clamd | $R_RSS | <= 1: $(verdict "$R_RSS" '<=' 1) |"
	echo "| peak RSS AVE / clamd | $R_HWM | |"
	echo "| DB load time AVE / clamd | $R_LOAD | <= 1: $(verdict "$R_LOAD" '<=' 1) |"
	echo
	if want kav; then
		echo "### kavscanner: on-demand scans of the corpus (fresh aveserver, new scan-cache file)"
		echo
		echo "| scan of the corpus by kavscanner and ClamAV's scanners | wall (s) | MB/s | files/s | CPU s (daemon + client) | MB per CPU s | CPU s used by other processes meanwhile | exit |"
		echo "|---|---|---|---|---|---|---|---|"
		kavrow "kavscanner -q, 1st run (empty scan cache)" kav1
		kavrow "kavscanner -q, 2nd run (unchanged tree: scan cache)" kav2
		if [ "$KAV_CLAMD" = clamd1 ]; then
			kavrow "clamdscan --multiscan --fdpass, 1st run (clamd part)" clamd1
		else
			kavrow "clamdscan --multiscan --fdpass, 1st run (fresh clamd)" kclamd1
		fi
		kavrow "clamscan -r (loads the DB itself: $(v clamscan_load) s of it)" clamscan1
		echo
		echo "kavscanner runs: ${R[kav_sum1]:-n/a} / ${R[kav_sum2]:-n/a}; found lines $(v kav_found1) / $(v kav_found2)"
		echo "(findings are never cached, so the 2nd run sends the flagged files to aveserver again, which answers them from its result cache);"
		echo "stderr lines $(v kav_err1) / $(v kav_err2); scan-cache file $(v kav_cache_kb1) KiB. clamscan is single-threaded and loads"
		echo "the DB on every run (DB load + scan of an empty file: $(v clamscan_load) s); its figure includes that load, clamdscan's does not."
		echo
		echo "| ratio (kavscanner) | value | target |"
		echo "|---|---|---|"
		echo "| 1st run / 2nd run of kavscanner (wall) | $R_KAV_REPEAT | >= 20: $(verdict_num "$R_KAV_REPEAT" '>=' 20) |"
		echo "| throughput (wall) kavscanner / clamdscan --multiscan --fdpass | $R_KAV_CLAMD | |"
		echo "| throughput (wall) kavscanner / clamscan | $R_KAV_CLAMSCAN | |"
		echo "| MB per CPU s kavscanner / clamd | $R_KAV_CPU_CLAMD | |"
		echo "| MB per CPU s kavscanner / clamscan | $R_KAV_CPU_CLAMSCAN | |"
		echo "| throughput (wall) kavscanner / avectl scan --jobs 4 --server-path (ave part) | $R_KAV_AVECTL | |"
		echo
	fi
	echo "### Detections (files flagged in the first run, against $DATA/expected.tsv)"
	echo
	echo "| tool | files flagged | expected | expected and flagged | missed | not expected |"
	echo "|---|---|---|---|---|---|"
	expected_files '.' >"$TMP/exp.all"
	expected_files '^Bench\.(Hash|Body)\.' >"$TMP/exp.clam"
	awk -F'\t' '!/^#/ && $2 ~ /^Bench_Yara_/ && $3 == "raw" { print $1 }' "$DATA/expected.tsv" | sort -u >"$TMP/exp.yara"
	[ -f "$TMP/ave.flagged" ] && detection_row AVE "$TMP/ave.flagged" "$TMP/exp.all"
	[ -f "$TMP/clamd.flagged" ] && detection_row clamd "$TMP/clamd.flagged" "$TMP/exp.clam"
	[ -f "$TMP/yara.flagged" ] && detection_row yara "$TMP/yara.flagged" "$TMP/exp.yara"
	[ -f "$TMP/kav.flagged" ] && detection_row kavscanner "$TMP/kav.flagged" "$TMP/exp.all"
	[ -f "$TMP/clamscan.flagged" ] && detection_row clamscan "$TMP/clamscan.flagged" "$TMP/exp.clam"
	echo
	echo "Expected: AVE every planted signature (hash, body, YARA; raw and inside archives, office files, PDF streams and"
	echo "MIME parts); clamd the hash and body ones; the yara CLI only YARA rules planted as plain bytes (it does not unpack)."
	echo "Lists of misses: $OUT/missed-*.txt. AVE scan: $(v ave_unchecked) UNCHECKED, $(v ave_corrupted) CORRUPTED lines;"
	echo "stderr lines: AVE $(v ave_err1), yara $(v yara_err1); clamd ERROR lines $(v clamd_err1)."
	if want kav; then
		echo "kavscanner (kav part) is expected to flag what AVE flags, clamscan what clamd flags. kavscanner: $(v kav_unchecked) UNCHECKED,"
		echo "$(v kav_corrupted) CORRUPTED lines; clamscan stderr ERROR lines $(v clamscan_err1)."
	fi
	echo
	echo "### Commands"
	echo
	echo '```'
	echo "go run ./scripts/benchgen -out $DATA -hashes $HASHES -ndb $NDB -yara $YARA_N -corpus-mb $MB -seed $SEED"
	echo "bin/aveserver --db $DB --socket S            # load = until 'bin/avectl --socket S status' succeeds"
	echo "bin/avectl --socket S scan --jobs 4 --server-path --quiet $CORPUS"
	echo "$CLAMD -c clamd.conf                          # DatabaseDirectory: bench.hdb + bench.ndb; load = until clamdscan --ping answers"
	echo "clamdscan -c clamd.conf --multiscan --fdpass --infected --no-summary $CORPUS"
	echo "yarac -w $DB/bench.yar out.yarc"
	echo "yara -w -r -p 2 $DB/bench.yar $CORPUS"
	if want kav; then
		echo "bin/kavscanner --socket S --cache-file F -q --no-progress -o REPORT --report-level errors $CORPUS   # twice, same F (a fresh aveserver)"
		echo "clamscan ${CLAMSCAN_OPTS[*]} -r --infected --no-summary -d DBDIR $CORPUS   # DBDIR: bench.hdb + bench.ndb"
	fi
	echo '```'
	if [ ${#BREAKDOWN_ROWS[@]} -gt 0 ]; then
		echo
		echo "### Throughput by kind of file (MB/s, wall clock; each directory scanned once, 2 jobs/threads)"
		echo
		echo "| directory | files | MB | AVE | clamd | yara CLI |"
		echo "|---|---|---|---|---|---|"
		printf '%s\n' "${BREAKDOWN_ROWS[@]}"
	fi
	if [ -f "$OUT/ave-status.txt" ]; then
		echo
		echo "### avectl status after load"
		echo
		echo '```'
		cat "$OUT/ave-status.txt"
		echo '```'
	fi
	if want go && [ -f "$OUT/gobench.txt" ]; then
		echo
		echo "### Go microbenchmarks (go test -run XXX -bench . -benchmem ./pkg/...)"
		echo
		echo '```'
		grep -v -e '^?' -e 'no test files' "$OUT/gobench.txt" || true
		echo '```'
	fi
} >"$RESULTS"
else
	{
		echo "# AVE benchmark results"
		echo
		echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "- machine: $(nproc) vCPU ($CPU), $MEM RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
		echo "- AVE: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)'); $(go version | awk '{ print $3 }')"
	} >"$RESULTS"
fi
if want mail; then
	{
		echo
		mail_report
	} >>"$RESULTS"
fi

want formats && formats_report >>"$RESULTS"
echo
sed -n '/^| |/,/^$/p;/^| scan of/,/^$/p;/^| ratio/,/^$/p;/^| tool/,/^$/p;/^| mail/,/^$/p' "$RESULTS"
want formats && formats_summary
echo "full report: $RESULTS"
