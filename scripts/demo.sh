#!/usr/bin/env bash
# The main job on the bundled defaults: builds AVE, starts aveserver with the
# shipped signature database (etc/db) on a private socket, scans a mail
# carrying EICAR in a zip, a clean file and a disguised executable, shows the
# verdicts; then sends a clean and the infected mail through smtpscanner
# (the shipped default policy, private spool and quarantine) to a recording
# downstream MTA on loopback, shows the replies, what arrived and what was
# quarantined, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/install-deps.sh
make build >/dev/null

work=$(mktemp -d /tmp/ave-demo.XXXXXX)
sock=$work/aveserver.sock
cleanup() {
	for p in ${pid:-} ${scpid:-} ${sinkpid:-}; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

bin/aveserver --db etc/db --socket "$sock" 2>"$work/aveserver.log" &
pid=$!
if ! bin/avectl --socket "$sock" status --wait 30s; then
	echo "aveserver did not come up; its log:" >&2
	cat "$work/aveserver.log" >&2
	exit 1
fi

# Samples, made here: EICAR is the standard harmless test file.
mkdir -p "$work/samples/zipdir"
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$work/samples/zipdir/eicar.com"
(cd "$work/samples/zipdir" && zip -q ../invoice.zip eicar.com)
{
	printf 'From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: your invoice\r\n'
	printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
	printf -- '--b1\r\nContent-Type: text/plain\r\n\r\nPlease see the attachment.\r\n'
	printf -- '--b1\r\nContent-Type: application/zip; name="invoice.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
	base64 "$work/samples/invoice.zip"
	printf -- '--b1--\r\n'
} >"$work/samples/invoice-mail.eml"
printf 'MZ\x90\x00 harmless stand-in for a program\n' >"$work/samples/zipdir/report.pdf.exe"
(cd "$work/samples/zipdir" && zip -q ../disguised.zip report.pdf.exe)
printf 'Nothing to see here.\n' >"$work/samples/clean.txt"
rm -r "$work/samples/zipdir"

echo
echo "== avectl scan $work/samples"
set +e
bin/avectl --socket "$sock" scan "$work/samples"
rc=$?
set -e
echo "(exit status $rc: 0 clean, 1 found, 2 errors)"
[ "$rc" -eq 1 ]

# Mail through smtpscanner: the downstream MTA is mailbench's sink, which
# keeps what it gets; mailbench deliver speaks SMTP as an MTA would.
go build -o "$work/mailbench" ./scripts/mailbench
mkdir -p "$work/delivered" "$work/spool"
"$work/mailbench" sink -listen 127.0.0.1:0 -addr-file "$work/sink.addr" -save "$work/delivered" >/dev/null 2>&1 &
sinkpid=$!
for _ in $(seq 100); do [ -s "$work/sink.addr" ] && break; sleep 0.05; done
port=$("$work/mailbench" freeport)
printf '%s\n' "# The shipped defaults, with private paths for the demo." \
	"[smtpscan.general]" "QuarantineKeyFile=$work/quarantine.key" \
	"[smtpscan.group:default]" "QuarantinePath=$work/quarantine" >"$work/ave.conf"
bin/smtpscanner -c "$work/ave.conf" --listen "127.0.0.1:$port" --forward "smtp:$(cat "$work/sink.addr")" \
	--socket "$sock" --spool "$work/spool" 2>"$work/smtpscanner.log" &
scpid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
printf 'From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: lunch\r\n\r\nNoon at the usual place?\r\n' >"$work/samples/clean-mail.eml"

echo
echo "== mail through smtpscanner (127.0.0.1:$port) to a recording MTA"
"$work/mailbench" deliver -addr "127.0.0.1:$port" "$work/samples/clean-mail.eml" "$work/samples/invoice-mail.eml"
echo
echo "smtpscanner's log:"
sed -n 's/.* msg=message /  /p' "$work/smtpscanner.log"
for f in "$work"/delivered/*.eml; do
	echo
	echo "-- arrived downstream: $(basename "$f"), its header:"
	tr -d '\r' <"$f" | sed -n '/^$/q; s/^/  /p'
done
grep -q '^X-AVE-Status: CURED EICAR-Test-File' "$work/delivered/0002.eml"
if grep -q 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' "$work/delivered/0002.eml"; then
	echo "EICAR reached the downstream MTA" >&2
	exit 1
fi
echo
echo "== avectl quarantine --mail list (the original of the cured mail)"
bin/avectl -c "$work/ave.conf" quarantine --mail list
