#!/usr/bin/env bash
# A real Milvus standalone 2.3.5 server for the integration tests (the same gRPC API as a Milvus
# cluster), next to the embedded Milvus Lite that shihua uses by default.
#
#   scripts/milvus-standalone.sh start [--fresh]   install if missing, start, wait until healthy
#   scripts/milvus-standalone.sh stop              stop it; fails if anything is left running
#   scripts/milvus-standalone.sh status            exit 0 healthy, 1 running but not healthy, 3 stopped
#
# Installs (only if missing) the pinned requirements-standalone.txt into its own venv
# .venv-milvus, and runs `milvus-server --data target/milvus-standalone --proxy-port 19530`
# in the background. Everything it writes lives in target/milvus-standalone/: the unpacked
# binaries (bin/), the data (data/, wiped by --fresh), Milvus' logs (logs/), the launcher's
# output (milvus-server.log) and the pid files (milvus-server.pid: the Python launcher;
# milvus.pid: the `milvus run standalone` process it starts).
#
# Settings: MILVUS_STANDALONE_PORT (19530), MILVUS_STANDALONE_TIMEOUT (120 s to get healthy),
# MILVUS_STANDALONE_DATA (target/milvus-standalone: another folder runs a second, independent
# server, e.g. bench/scale.py's target/milvus-bench; the launcher picks free ports for the rest).
# The server listens on all interfaces (its etcd on 127.0.0.1) without authentication: use it
# on a development machine only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
VENV=$ROOT/.venv-milvus
REQS=$ROOT/requirements-standalone.txt
DATA=${MILVUS_STANDALONE_DATA:-$ROOT/target/milvus-standalone}
PORT=${MILVUS_STANDALONE_PORT:-19530}
TIMEOUT=${MILVUS_STANDALONE_TIMEOUT:-120}
WRAPPER_PID_FILE=$DATA/milvus-server.pid
CHILD_PID_FILE=$DATA/milvus.pid
LOG=$DATA/milvus-server.log
BIN=$DATA/bin/milvus

say() { printf '\033[1;34m[milvus-standalone]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[milvus-standalone]\033[0m %s\n' "$*" >&2; exit 1; }

# --- processes, matched exactly (never by a broad name) -----------------------------------
alive() { # pid -> true while it exists and is not a zombie
  local pid=$1 state
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
is_wrapper() { # pid -> true if it is our milvus-server launcher (python .venv-milvus/bin/milvus-server --data $DATA)
  local cmd
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ "$cmd" == *"$VENV/bin/milvus-server --data $DATA "* ]]
}
is_child() { # pid -> true if it runs our unpacked milvus binary
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$BIN" ]
}
our_processes() { # every launcher and server of this data folder, pid file or not
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    if is_wrapper "$pid" || is_child "$pid"; then alive "$pid" && echo "$pid"; fi
  done
  return 0
}
read_pid() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }
wrapper_pid() { local p; p=$(read_pid "$WRAPPER_PID_FILE"); alive "$p" && is_wrapper "$p" && echo "$p" || true; }
child_pid() { local p; p=$(read_pid "$CHILD_PID_FILE"); alive "$p" && is_child "$p" && echo "$p" || true; }

# --- health -------------------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
metrics_port() { # the launcher picks a free METRICS_PORT (9091 up) and passes it in the environment
  tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | sed -n 's/^METRICS_PORT=//p' | head -1
}
healthy() { # child pid -> Milvus' /healthz says OK and the gRPC proxy port accepts connections
  local mport
  mport=$(metrics_port "$1")
  [ -n "$mport" ] || return 1
  "$VENV/bin/python" - "$mport" <<'PY' 2>/dev/null || return 1
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=3) as r:
    sys.exit(0 if b"OK" in r.read() else 1)
PY
  port_open "$PORT"
}

# --- install ------------------------------------------------------------------------------
install() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating Python venv $VENV"
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -m pip freeze 2>/dev/null | grep -qxF -f <(grep -v '^#' "$REQS" | grep .); then
    say "installing $(grep -v '^#' "$REQS" | grep . | tr '\n' ' ')from requirements-standalone.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
  fi
  [ -x "$VENV/bin/milvus-server" ] || die "no $VENV/bin/milvus-server after installing"
}

# --- commands -----------------------------------------------------------------------------
start() {
  local fresh=0
  [ "${1:-}" = "--fresh" ] && fresh=1
  install
  local w c
  w=$(wrapper_pid); c=$(child_pid)
  if [ -n "$w" ] && [ -n "$c" ] && healthy "$c"; then
    say "already running (pid $w, server pid $c) on 127.0.0.1:$PORT"
    return 0
  fi
  if [ -n "$(our_processes)" ]; then
    say "a previous server of $DATA is still around: stopping it first"
    stop
  fi
  if port_open "$PORT"; then
    die "port $PORT is already in use by another program (set MILVUS_STANDALONE_PORT)"
  fi
  mkdir -p "$DATA"
  if [ "$fresh" = 1 ]; then
    say "--fresh: removing $DATA/data and $DATA/logs"
    rm -rf "$DATA/data" "$DATA/logs"
  fi
  rm -f "$WRAPPER_PID_FILE" "$CHILD_PID_FILE"
  say "starting Milvus standalone $("$VENV/bin/python" -c 'import milvus; print(milvus.__version__)') on 127.0.0.1:$PORT (data $DATA, log $LOG)"
  local started=$SECONDS
  # Own session: a Ctrl+C meant for the caller does not reach it; `stop` ends it.
  PYTHONUNBUFFERED=1 setsid "$VENV/bin/milvus-server" --data "$DATA" --proxy-port "$PORT" \
    </dev/null >"$LOG" 2>&1 &
  w=$!
  echo "$w" >"$WRAPPER_PID_FILE"
  c=""
  while :; do
    if ! alive "$w"; then
      tail -n 30 "$LOG" >&2 || true
      [ -n "$c" ] && [ -f "$DATA/logs/milvus-stderr.log" ] && tail -n 30 "$DATA/logs/milvus-stderr.log" >&2
      stop >/dev/null 2>&1 || true
      die "milvus-server exited during start-up (log: $LOG)"
    fi
    if [ -z "$c" ]; then
      local p
      for p in $(our_processes); do
        if is_child "$p"; then c=$p; echo "$c" >"$CHILD_PID_FILE"; fi
      done
    fi
    if [ -n "$c" ] && healthy "$c"; then break; fi
    if [ $((SECONDS - started)) -ge "$TIMEOUT" ]; then
      tail -n 30 "$LOG" >&2 || true
      stop || true
      die "not healthy within $TIMEOUT s (log: $LOG, Milvus logs: $DATA/logs)"
    fi
    sleep 0.5
  done
  say "healthy after $((SECONDS - started)) s: pid $w (server pid $c), http://127.0.0.1:$PORT"
}

any_alive() { local p; for p in "$@"; do alive "$p" && return 0; done; return 1; }
wait_gone() { # seconds pid... -> true once none of the pids is alive
  local t=$(($1 * 2)); shift
  while ((t-- > 0)); do any_alive "$@" || return 0; sleep 0.5; done
  ! any_alive "$@"
}

stop() {
  local pids w p live
  w=$(wrapper_pid)
  pids=$(echo $w $(child_pid) $(our_processes) | tr ' ' '\n' | sort -u | tr '\n' ' ')
  if [ -z "${pids// /}" ]; then
    rm -f "$WRAPPER_PID_FILE" "$CHILD_PID_FILE"
    say "not running"
    return 0
  fi
  # SIGINT is the launcher's own way to stop (it terminates the server, then kills it after
  # 1 s); SIGTERM to the launcher would leave the server running.
  if [ -n "$w" ]; then
    say "stopping (SIGINT to pid $w)"
    kill -INT "$w" 2>/dev/null || true
    wait_gone 20 $pids || true
  fi
  for sig in TERM KILL; do
    live=""
    for p in $pids; do alive "$p" && live="$live $p"; done
    [ -z "$live" ] && break
    say "still running:$live; SIG$sig"
    kill -"$sig" $live 2>/dev/null || true
    wait_gone 30 $live || true
  done
  live=$(our_processes)
  [ -z "$live" ] || die "could not stop: $(echo $live) still running"
  rm -f "$WRAPPER_PID_FILE" "$CHILD_PID_FILE"
  say "stopped"
}

status() {
  local w c
  w=$(wrapper_pid); c=$(child_pid)
  if [ -z "$w$c" ]; then
    local stray
    stray=$(our_processes)
    if [ -n "$stray" ]; then
      say "not healthy: processes of $DATA without pid files: $(echo $stray) (run stop)"
      return 1
    fi
    say "stopped"
    return 3
  fi
  if [ -n "$c" ] && healthy "$c"; then
    say "running and healthy: pid ${w:-?} (server pid $c), http://127.0.0.1:$PORT"
    return 0
  fi
  say "running but not healthy: pid ${w:-none} (server pid ${c:-none}); log $LOG"
  return 1
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [--fresh] | stop | status" >&2; exit 2 ;;
esac
