#!/usr/bin/env bash
# Installs AVE from a built tree (make build): what `make install` runs.
#
#   PREFIX   programs in $PREFIX/bin, reference files in $PREFIX/share/ave
#            (default /usr/local; the systemd units are rewritten to match)
#   DESTDIR  staging root for packaging (default: the live system)
#   BINDIR   where the built programs are (default bin)
#
# Never overwritten: /etc/ave/ave.conf (the new one goes beside it as
# ave.conf.dist) and an installed signature DB (keepup2date keeps it up to
# date; a reinstall must not take it back to the shipped one). On the live
# system (no DESTDIR) it also makes the "ave" user (systemd-sysusers), the
# directories the daemons write (systemd-tmpfiles) and tells systemd about
# the units; it enables and starts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-bin}
case "$PREFIX" in
/*) ;;
*) echo "install: PREFIX must be an absolute path, not $PREFIX" >&2; exit 2 ;;
esac
for b in aveserver avectl smtpscanner kavscanner keepup2date qmail-queue; do
	if [ ! -x "$BINDIR/$b" ]; then
		echo "install: $BINDIR/$b is missing: run make build first" >&2
		exit 2
	fi
done

r=$DESTDIR
say() { printf 'install: %s\n' "$*"; }

for b in aveserver avectl smtpscanner kavscanner keepup2date; do
	install -D -m 755 "$BINDIR/$b" "$r$PREFIX/bin/$b"
done
# qmail-queue is not a command: it is copied over qmail's own by hand
# (README, qmail-queue), so it waits here.
install -D -m 755 "$BINDIR/qmail-queue" "$r$PREFIX/lib/ave/qmail-queue"

install -d -m 755 "$r/etc/ave"
if [ -e "$r/etc/ave/ave.conf" ]; then
	install -m 644 etc/ave.conf "$r/etc/ave/ave.conf.dist"
	say "kept /etc/ave/ave.conf; this version's is /etc/ave/ave.conf.dist"
else
	install -m 644 etc/ave.conf "$r/etc/ave/ave.conf"
fi

# Reference copies: the notification templates (TemplatePath empty uses
# the same texts built in) and the policy examples.
install -d -m 755 "$r$PREFIX/share/ave/templates" "$r$PREFIX/share/ave/examples"
install -m 644 etc/templates/* "$r$PREFIX/share/ave/templates/"
install -m 644 etc/examples/*.conf "$r$PREFIX/share/ave/examples/"
install -d -m 755 "$r$PREFIX/share/ave/db"
install -m 644 etc/db/* "$r$PREFIX/share/ave/db/"

bases=/var/lib/ave/bases
if [ -e "$r$bases/manifest" ]; then
	say "kept the signature DB in $bases (the shipped one is in $PREFIX/share/ave/db)"
else
	install -d -m 755 "$r$bases"
	install -m 644 etc/db/* "$r$bases/"
fi

unitdir=$r/etc/systemd/system
install -d -m 755 "$unitdir"
for u in etc/systemd/*.service etc/systemd/*.timer; do
	sed "s|/usr/local/bin/|$PREFIX/bin/|g" "$u" >"$unitdir/$(basename "$u").tmp"
	chmod 644 "$unitdir/$(basename "$u").tmp"
	mv "$unitdir/$(basename "$u").tmp" "$unitdir/$(basename "$u")"
done
install -D -m 644 etc/systemd/ave-sysusers.conf "$r/etc/sysusers.d/ave.conf"
install -D -m 644 etc/systemd/ave-tmpfiles.conf "$r/etc/tmpfiles.d/ave.conf"
install -D -m 644 etc/logrotate.d/ave "$r/etc/logrotate.d/ave"

if [ -n "$DESTDIR" ]; then
	say "staged in $DESTDIR (run systemd-sysusers and systemd-tmpfiles --create on the target)"
	exit 0
fi
systemd-sysusers /etc/sysusers.d/ave.conf
systemd-tmpfiles --create /etc/tmpfiles.d/ave.conf
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
fi
say "done. Next: edit /etc/ave/ave.conf, run '$PREFIX/bin/avectl check',"
say "then: systemctl enable --now aveserver smtpscanner (README, Installation)"
