#!/usr/bin/env bash
# The main job on the bundled defaults: builds AVE, starts aveserver with the
# shipped signature database (etc/db) on a private socket, scans a mail
# carrying EICAR in a zip, a clean file and a disguised executable, shows the
# verdicts, and stops the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/install-deps.sh
make build >/dev/null

work=$(mktemp -d /tmp/ave-demo.XXXXXX)
sock=$work/aveserver.sock
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
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
