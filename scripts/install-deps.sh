#!/usr/bin/env bash
# Installs the Debian packages AVE needs to build and test, with a retry
# (apt occasionally fails once on a fresh machine). Run as root.
#   scripts/install-deps.sh          build and test dependencies
#   scripts/install-deps.sh bench    also the tools the benchmarks compare against
set -euo pipefail

# Archive tools make the test fixtures that the tests do not build in Go,
# or (cabextract) check the ones they do; systemd's systemd-analyze checks
# the unit files of etc/systemd.
pkgs=(gcc make pkg-config libyara-dev libyara9 zip unzip tar gzip bzip2 xz-utils
	p7zip-full arj cpio gcab cabextract mscompress sharutils uudeview macutils qpdf
	postfix systemd logrotate)
if [ "${1:-}" = bench ]; then
	pkgs+=(yara clamav clamav-daemon clamdscan amavisd-new)
fi

# Go is not a Debian package here (bookworm's golang is 1.19): go.mod
# needs Go 1.26, on PATH or in /usr/local/go.
export PATH="$PATH:/usr/local/go/bin"
gov=$(go env GOVERSION 2>/dev/null || true)
case "$gov" in
go1.2[6-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
*)
	echo "install-deps: Go 1.26 or newer is needed (found: ${gov:-none})." >&2
	echo "  Unpack the go1.26 linux tarball into /usr/local/go (https://go.dev/dl/), or put its bin/ on PATH." >&2
	exit 1
	;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

need=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Postfix is installed for the end-to-end tests only: no system mail
# configuration (the tests run private instances on loopback ports).
if printf '%s\n' "${need[@]}" | grep -qx postfix; then
	echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
fi
for try in 1 2 3; do
	if $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${need[@]}"; then
		exit 0
	fi
	echo "install-deps: apt-get failed (try $try of 3), retrying" >&2
	sleep $((try * 5))
done
echo "install-deps: could not install: ${need[*]}" >&2
exit 1
