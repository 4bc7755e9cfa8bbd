#!/bin/sh
# connloss.sh: the demo server on PostgreSQL under connection loss.
#
# Builds examples/server and examples/server/loadtest, (re)creates a database of its own
# (default gatehouse_connloss: no other database is touched), starts the demo on it with
# pool_max_conns=16 on 127.0.0.1, drives client_credentials load at it for 120 s while
# terminating every backend of that database (pg_terminate_backend) every 5 s, and prints
# how many requests got 200, 503 or anything else, and whether the server recovered by
# itself. Everything runs on loopback; it needs only Go and a PostgreSQL server.
#
#   examples/server/loadtest/connloss.sh
#
# Settings (environment):
#   ADMIN_DSN   a DSN of the server on another database, as a user that may create databases
#               and terminate backends (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   DB          the demo's database, dropped and created (default gatehouse_connloss)
#   ADDR        the demo's listen address, loopback (default 127.0.0.1:18080)
#   POOL        pool_max_conns of the demo (default 16)
#   WORKERS     concurrent requests (default 32)
#   DURATION    load time (default 120s)
#   KILL_EVERY  interval of the terminations, 0 for none (default 5s)
#   KEEP_DB     1 to keep the database afterwards
#   SERVER_LOG  a file to copy the demo's log to
#
# Exit status: 0 if every answer was 200 or 503 and the server recovered, 1 if not, 2 on a
# setup error.
set -eu

ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DB=${DB:-gatehouse_connloss}
ADDR=${ADDR:-127.0.0.1:18080}
POOL=${POOL:-16}
WORKERS=${WORKERS:-32}
DURATION=${DURATION:-120s}
KILL_EVERY=${KILL_EVERY:-5s}
KEEP_DB=${KEEP_DB:-0}
SERVER_LOG=${SERVER_LOG:-}

case $ADDR in
127.*) ;;
*) echo "connloss.sh: ADDR must be a 127.0.0.0/8 address" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../../.." && pwd)
tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "$KEEP_DB" != 1 ] && [ -x "$tmp/loadtest" ]; then
		"$tmp/loadtest" dropdb -admin-dsn "$ADMIN_DSN" -db "$DB" || true
	fi
	if [ -n "$SERVER_LOG" ] && [ -f "$tmp/server.log" ]; then
		cp "$tmp/server.log" "$SERVER_LOG"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

cd "$root"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
echo "machine: $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sm), $(go version | cut -d' ' -f3)"
go build -o "$tmp/server" ./examples/server
go build -o "$tmp/loadtest" ./examples/server/loadtest

dsn=$("$tmp/loadtest" createdb -admin-dsn "$ADMIN_DSN" -db "$DB" -pool "$POOL")
"$tmp/server" -addr "$ADDR" -dsn "$dsn" >"$tmp/server.log" 2>&1 &
server_pid=$!

status=0
"$tmp/loadtest" run -url "http://$ADDR" -workers "$WORKERS" -duration "$DURATION" \
	-kill-every "$KILL_EVERY" -admin-dsn "$ADMIN_DSN" -db "$DB" || status=$?

if kill -0 "$server_pid" 2>/dev/null; then
	echo "server process: still running"
else
	echo "server process: EXITED; its log:"
	tail -n 20 "$tmp/server.log"
	status=1
fi
echo "server log: $(grep -c 'level=ERROR' "$tmp/server.log" || true) ERROR lines, $(grep -c 'level=WARN' "$tmp/server.log" || true) WARN lines"
exit "$status"
