#!/bin/sh
# A vendor CLI whose tool misbehaves, then the fake vendor itself (tests/test_hostile_processes.py).
#   HOSTILE_TOOL=leaf        start tests/fakes/hostile_leaf.py (HOSTILE_TOKEN, _PIDFILE, _MODES) and
#                            wait until it has settled
#   HOSTILE_TOOL=kill0       a tool that signals its own process group: `kill 0`
#   HOSTILE_TOOL=trap-kill0  a tool with `trap 'kill 0' EXIT`
#   HOSTILE_TOOL=stop0       a tool that stops its own process group: `kill -STOP 0`
# HOSTILE_READY (a file) is written once the tool has done its thing.
# HOSTILE_IGNORE_TERM=1: the vendor survives SIGTERM/SIGINT/SIGHUP (its tool's `kill 0` hits it too).
here=$(dirname "$0")
[ -n "$HOSTILE_IGNORE_TERM" ] && trap '' TERM INT HUP
case "$HOSTILE_TOOL" in
  leaf)
    "$HOSTILE_PY" "$here/hostile_leaf.py" "$HOSTILE_TOKEN" "$HOSTILE_PIDFILE" "$HOSTILE_MODES" &
    while [ ! -s "$HOSTILE_PIDFILE" ]; do sleep 0.01; done ;;
  # From a parent that never reaps the tool (dash would, at once): hostile_signaller.py.
  kill0|trap-kill0) exec "$HOSTILE_PY" "$here/hostile_signaller.py" "$@" ;;
  stop0) sh -c 'kill -STOP 0; echo >"$HOSTILE_READY"' ;;
esac
exec "$HOSTILE_PY" "$here/fake_vendor.py" "$@"
