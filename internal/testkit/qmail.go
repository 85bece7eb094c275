package testkit

// FakeQmailQueue is a qmail-queue stand-in: it reads the message from fd 0
// and the envelope from fd 1 into DIR/msg and DIR/env, touches DIR/eof
// once it saw the end of the message (a message cut short must never get
// there), and touches DIR/queued, as the real one commits, only when both
// were read whole
// (the envelope ends in two NULs); then it exits with EXIT. With SLEEP it
// waits that long first.
const FakeQmailQueue = `#!/bin/sh
d=$1
if [ -n "$3" ]; then sleep "$3"; fi
cat > "$d/msg" || exit 54
touch "$d/eof"
cat <&1 > "$d/env" || exit 54
[ "$(tail -c 2 "$d/env" | od -An -tx1 | tr -d ' \n')" = 0000 ] || exit 91
touch "$d/queued"
echo "fake qmail-queue says hello" >&2
exit "$2"
`
