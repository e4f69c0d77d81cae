#!/usr/bin/env bash
# Starts/stops Hulin's three services in the background (uvicorn, one process each), logs and pids
# in the state directory. Idempotent: a service already answering is left alone.
# patrol runs as deployed (deploy/k8s): `patrol` serves the API (HULIN_PATROL_CONSUMERS=false) and
# `patrol-worker` runs its points consumer and overdue scan (HULIN_PATROL_API=false; its port
# answers only /healthz, /readyz and /metrics).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${HULIN_STATE_DIR:-$HOME/.local/state/hulin}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
# The local stack is development mode, asked for here (the services default to prod); dev serves
# on loopback only.
export HULIN_ENV="${HULIN_ENV:-dev}"
mkdir -p "$STATE/run" "$STATE/log"
SERVICES=("patrol:${HULIN_PATROL_PORT:-8001}" "patrol-worker:${HULIN_PATROL_WORKER_PORT:-8011}"
  "incidents:${HULIN_INCIDENTS_PORT:-8002}" "notify:${HULIN_NOTIFY_PORT:-8003}")

log() { printf '[services] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready() { # port
  "$PY" - "$1" <<'PYEOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=3) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PYEOF
}

role_env() { # name: the process's role settings, as env assignments
  case "$1" in
    patrol) echo "HULIN_PATROL_CONSUMERS=false" ;;
    patrol-worker) echo "HULIN_PATROL_API=false" ;;
  esac
}

start_one() { # name port
  local name="$1" port="$2" i module="services.${1%-worker}"
  if port_open "$port"; then log "$name already on :$port"; return 0; fi
  log "starting $name on 127.0.0.1:$port"
  # Only the service itself goes to the background, with every stream redirected: a backgrounded
  # `cd && ...` list would leave a shell holding the caller's stdout open for the service's life.
  (
    cd "$ROOT"
    # shellcheck disable=SC2046 # role_env's output is word-split on purpose (VAR=value pairs)
    env $(role_env "$name") HULIN_PORT="$port" \
      nohup "$PY" -m "$module" >>"$STATE/log/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/run/$name.pid"
  )
}

wait_ready() { # name port
  local name="$1" port="$2" i
  for ((i = 0; i < 240; i++)); do
    if ready "$port"; then log "$name ready"; return 0; fi
    if [[ -f "$STATE/run/$name.pid" ]] && ! kill -0 "$(cat "$STATE/run/$name.pid")" 2>/dev/null; then
      log "$name exited; last lines of $STATE/log/$name.log:"; tail -n 20 "$STATE/log/$name.log" >&2
      return 1
    fi
    sleep 0.5
  done
  log "$name not ready after 120 s; see $STATE/log/$name.log"; return 1
}

stop_one() { # name [signal]
  local name="$1" sig="${2:-TERM}" pid i
  [[ -f "$STATE/run/$name.pid" ]] || return 0
  pid="$(cat "$STATE/run/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid, SIG$sig)"
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/run/$name.pid"
}

case "${1:-}" in
  up)
    for s in "${SERVICES[@]}"; do start_one "${s%%:*}" "${s##*:}"; done
    for s in "${SERVICES[@]}"; do wait_ready "${s%%:*}" "${s##*:}"; done ;;
  down) for s in "${SERVICES[@]}"; do stop_one "${s%%:*}"; done ;;
  start) start_one "$2" "$3"; wait_ready "$2" "$3" ;;
  stop) stop_one "$2" "${3:-TERM}" ;;
  status)
    for s in "${SERVICES[@]}"; do
      if ready "${s##*:}"; then echo "${s%%:*} ready on :${s##*:}"; else echo "${s%%:*} not ready"; fi
    done ;;
  *) echo "usage: $0 up|down|status|start NAME PORT|stop NAME [SIG]" >&2; exit 2 ;;
esac
