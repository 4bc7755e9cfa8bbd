#!/usr/bin/env bash
# bench/compare.sh [cc|jwt|introspect|audit|metrics|traces] — requests per second of the
# Gatehouse demo server beside a bare fosite v0.49.0 server (bench/baseline: memory store,
# SHA-256 client-secret hasher) and a plain net/http ceiling, measured in turns (G F P G F P ...)
# in one run on loopback with wrk. Only the ratios of one run mean anything on a shared machine.
#   cc          client_credentials, opaque access tokens (default)
#   jwt         client_credentials, ES256 JWT access tokens (demo flag -jwt-access-tokens)
#   introspect  RFC 7662 introspection of a live token, the caller authenticated by Basic
# The paired modes run client_credentials on two demo servers that differ in one setting, in
# turns (which goes first alternates); the last line gives on/off of req/s and of the server's
# CPU time per request (from /proc, Linux):
#   audit       the audit trail on (the default) beside -audit=false
#   metrics     the OpenTelemetry metrics SDK with its Prometheus exporter (the demo's admin
#               listener, which serves /metrics) beside no SDK at all (-admin-addr "")
#   traces      the metrics SDK and the tracing SDK sampling 1 % (-trace-sample 0.01), its
#               spans exported over OTLP/HTTP to a sink (bench/baseline -mode sink), beside
#               the metrics SDK alone
# Environment: ROUNDS (3), DUR (5s), CONNS (32), THREADS (2), GATEHOUSE_FLAGS (extra demo
# flags, e.g. "-dsn postgres://..."). The last line holds the medians and the ratios: the ratio
# of the medians (what the reference script reports) and the median of the rounds' ratios (steadier
# when a neighbour's load spoils a few rounds).
set -uo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
MODE=${1:-cc} ROUNDS=${ROUNDS:-3} DUR=${DUR:-5s} CONNS=${CONNS:-32} THREADS=${THREADS:-2}
case $MODE in cc|jwt|introspect|audit|metrics|traces) ;; *) echo "usage: $0 [cc|jwt|introspect|audit|metrics|traces]" >&2; exit 2 ;; esac
# shellcheck source=lib.sh
. "$BENCH/lib.sh"
need_wrk || exit 1
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT
(cd "$BENCH" && go build -o "$W/baseline" ./baseline) || { echo "bench/baseline: build failed" >&2; exit 1; }
(cd "$ROOT" && go build -o "$W/gatehouse" ./examples/server) || { echo "examples/server: build failed" >&2; exit 1; }

G=127.0.0.1:18192 F=127.0.0.1:18190 P=127.0.0.1:18191 A=127.0.0.1:18193
GFLAGS=(-admin-addr "" ${GATEHOUSE_FLAGS:-}) FFLAGS=(-hasher sha256)
[[ $MODE == jwt ]] && { GFLAGS+=(-jwt-access-tokens); FFLAGS+=(-strategy jwt); }
"$W/baseline" -addr $F "${FFLAGS[@]}" >"$W/f.log" 2>&1 & PIDS+=($!)
"$W/baseline" -addr $P -mode plain >"$W/p.log" 2>&1 & PIDS+=($!)
(cd "$ROOT" && exec "$W/gatehouse" -addr $G "${GFLAGS[@]}") >"$W/g.log" 2>&1 & PIDS+=($!)
up http://$F/oauth2/token && up http://$P/oauth2/token && up http://$G/.well-known/openid-configuration || { tail -5 "$W"/*.log; exit 1; }

GA=$(basic demo-service demo-service-secret) FA=$(basic perf-client perf-secret)
GT=$(token http://$G "$GA" assets:read) FT=$(token http://$F "$FA" read)
[[ -n $GT ]] || { echo "gatehouse issued no token to demo-service" >&2; tail -5 "$W/g.log"; exit 1; }
[[ -n $FT ]] || { echo "the baseline issued no token" >&2; tail -5 "$W/f.log"; exit 1; }
if [[ $MODE == jwt && $(tr -cd . <<<"$GT" | wc -c) != 2 ]]; then echo "gatehouse -jwt-access-tokens issued no JWT: $GT" >&2; exit 1; fi
if [[ $MODE == introspect ]]; then
  a=$(curl -s -H "Authorization: $GA" -d "token=$GT" http://$G/oauth2/introspect)
  grep -q '"active":true' <<<"$a" || { echo "gatehouse introspection is not active: $a" >&2; exit 1; }
fi

# paired: client_credentials on two demo servers, "on" at $G with the flags ON_FLAGS added and
# "off" at $A with OFF_FLAGS added, in turns; check_pair runs once both are up, check_after
# after the last round. The common demo at $G is replaced.
paired() {
  kill "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null
  (cd "$ROOT" && exec "$W/gatehouse" -addr $G "${GFLAGS[@]}" "${ON_FLAGS[@]}") >"$W/g.log" 2>&1 & PIDS[2]=$!
  (cd "$ROOT" && exec "$W/gatehouse" -addr $A "${GFLAGS[@]}" "${OFF_FLAGS[@]}") >"$W/a.log" 2>&1 & PIDS+=($!)
  local GPID=${PIDS[2]} APID=${PIDS[-1]}
  up http://$G/.well-known/openid-configuration || { tail -5 "$W/g.log"; exit 1; }
  up http://$A/.well-known/openid-configuration || { tail -5 "$W/a.log"; exit 1; }
  check_pair || exit 1
  declare -a ON OFF RATIO CON COFF CRATIO
  for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then # which goes first alternates
      read -r on con < <(turn "$GPID" http://$G/oauth2/token token.lua "$GA" assets:read)
      read -r off coff < <(turn "$APID" http://$A/oauth2/token token.lua "$GA" assets:read)
    else
      read -r off coff < <(turn "$APID" http://$A/oauth2/token token.lua "$GA" assets:read)
      read -r on con < <(turn "$GPID" http://$G/oauth2/token token.lua "$GA" assets:read)
    fi
    ratio=$(ratio "$on" "$off") cratio=$(ratio "$con" "$coff")
    echo "round $r: $MODE on $on req/s ($con µs CPU each), off $off req/s ($coff µs CPU each); req/s on/off $ratio, CPU per request on/off $cratio"
    ON+=("${on:-0}"); OFF+=("${off:-0}"); RATIO+=("$ratio"); CON+=("${con:-0}"); COFF+=("${coff:-0}"); CRATIO+=("$cratio")
  done
  check_after || exit 1
  echo "$MODE medians: on $(med "${ON[@]}"), off $(med "${OFF[@]}") req/s, CPU per request on $(med "${CON[@]}"), off $(med "${COFF[@]}") µs;" \
    "medians of the rounds' ratios: req/s on/off $(med "${RATIO[@]}"), CPU per request on/off $(med "${CRATIO[@]}")"
  exit 0
}
check_after() { :; }
# request_id BASE-URL prints the X-Request-Id header line of a token request.
request_id() { curl -sD - -o /dev/null -H "Authorization: $GA" -d grant_type=client_credentials "$1/oauth2/token" | grep -i '^x-request-id'; }
# metrics_at ADDR succeeds when ADDR serves Gatehouse's metrics after a token request.
metrics_at() { token "http://$1" "$GA" assets:read >/dev/null; curl -s "http://$2/metrics" | grep -q '^gatehouse_'; }
M=127.0.0.1:18194 M2=127.0.0.1:18195 S=127.0.0.1:18196
case $MODE in
audit)
  ON_FLAGS=() OFF_FLAGS=(-audit=false)
  check_pair() {
    [[ -n $(request_id http://$G) ]] || { echo "the audit-on demo sent no X-Request-Id: is its trail on?" >&2; return 1; }
    [[ -z $(request_id http://$A) ]] || { echo "the -audit=false demo sent an X-Request-Id: is its trail off?" >&2; return 1; }
  }
  paired ;;
metrics)
  ON_FLAGS=(-admin-addr $M) OFF_FLAGS=(-admin-addr "")
  check_pair() {
    metrics_at $G $M || { echo "the metrics-on demo serves no gatehouse_ metrics at http://$M/metrics" >&2; return 1; }
  }
  paired ;;
traces)
  "$W/baseline" -addr $S -mode sink >"$W/s.log" 2>&1 & PIDS+=($!)
  up http://$S/count || { tail -5 "$W/s.log"; exit 1; }
  ON_FLAGS=(-admin-addr $M -otlp-endpoint http://$S -trace-sample 0.01) OFF_FLAGS=(-admin-addr $M2)
  check_pair() {
    metrics_at $G $M || { echo "the traces-on demo serves no gatehouse_ metrics at http://$M/metrics" >&2; return 1; }
    metrics_at $A $M2 || { echo "the traces-off demo serves no gatehouse_ metrics at http://$M2/metrics" >&2; return 1; }
  }
  check_after() {
    sleep 6 # the batch span processor exports every 5 s
    local n; n=$(curl -s http://$S/count)
    (( ${n:-0} > 0 )) || { echo "the OTLP sink received no export: were traces sent?" >&2; return 1; }
    echo "the OTLP sink received $n exports"
  }
  paired ;;
esac
declare -a GR FR PR RR
for r in $(seq "$ROUNDS"); do
  if [[ $MODE == introspect ]]; then
    g=$(rate http://$G/oauth2/introspect introspect.lua "$GA" "$GT")
    f=$(rate http://$F/oauth2/introspect introspect.lua "$FA" "$FT")
  else
    g=$(rate http://$G/oauth2/token token.lua "$GA" assets:read)
    f=$(rate http://$F/oauth2/token token.lua "$FA" read)
  fi
  p=$(rate http://$P/oauth2/token token.lua "$(basic x y)" read)
  echo "round $r: gatehouse $g req/s, fosite $f req/s, plain $p req/s"
  GR+=("${g:-0}"); FR+=("${f:-0}"); PR+=("${p:-0}")
  RR+=("$(ratio "$g" "$f")")
done
gm=$(med "${GR[@]}") fm=$(med "${FR[@]}") pm=$(med "${PR[@]}")
echo "$MODE medians: gatehouse $gm, fosite-baseline $fm, plain-ceiling $pm req/s;" \
  "gatehouse/fosite $(awk -v a="$gm" -v b="$fm" 'BEGIN{printf "%.2f", a/b}')," \
  "gatehouse/ceiling $(awk -v a="$gm" -v b="$pm" 'BEGIN{printf "%.2f", a/b}');" \
  "median of the rounds' gatehouse/fosite $(med "${RR[@]}")"
