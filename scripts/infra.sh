#!/usr/bin/env bash
# Local infrastructure for Hulin without Docker: a single-node Apache Kafka (KRaft) and FerretDB
# (SQLite), fetched/built into a cache outside git and run on loopback. Idempotent: starting what
# already runs does nothing; stopping keeps the data. Never used in production.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HULIN_CACHE_DIR:-$HOME/.cache/hulin}"          # jars and binaries (shared by clones)
STATE="${HULIN_STATE_DIR:-$HOME/.local/state/hulin}"    # broker log dirs, SQLite files, pids, logs
KAFKA_PORT="${HULIN_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${HULIN_KAFKA_CONTROLLER_PORT:-9093}"
# One broker of several (tests/support/dedicated.py's KafkaCluster): its name (state dir, pid,
# log), node id, the controller quorum, and the replication the cluster promises. Alone: 1, 1.
KAFKA_NAME="${HULIN_KAFKA_NAME:-kafka}"
KAFKA_NODE_ID="${HULIN_KAFKA_NODE_ID:-1}"
KAFKA_VOTERS="${HULIN_KAFKA_VOTERS:-1@127.0.0.1:$KAFKA_CONTROLLER_PORT}"
KAFKA_CLUSTER_ID="${HULIN_KAFKA_CLUSTER_ID:-}"
KAFKA_RF="${HULIN_KAFKA_REPLICATION:-1}"
KAFKA_MIN_ISR="${HULIN_KAFKA_MIN_ISR:-1}"
KAFKA_HEAP="${HULIN_KAFKA_HEAP:-768m}"
# A second listener with SASL/SCRAM (as the cluster's), for the clients' authentication test:
# its port, and the users created at format time ("name=password,...").
KAFKA_SCRAM_PORT="${HULIN_KAFKA_SCRAM_PORT:-}"
KAFKA_SCRAM_USERS="${HULIN_KAFKA_SCRAM_USERS:-}"
MONGO_PORT="${HULIN_MONGO_PORT:-27017}"
KAFKA_VERSION="3.9.1"
FERRETDB_VERSION="v1.24.2"

KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
# the binary's name carries a hash of our main, its module sums and our patches to FerretDB:
# editing any of them rebuilds it
FERRETDB_SRC_HASH="$(cat "$ROOT/infra/ferretdb/main.go" "$ROOT/infra/ferretdb/go.sum" \
  "$ROOT"/infra/ferretdb/patches/*.patch | sha1sum | cut -c1-10)"
FERRETDB_BIN="$CACHE/bin/hulin-ferretdb-$FERRETDB_VERSION-$FERRETDB_SRC_HASH"
mkdir -p "$CACHE" "$STATE/run" "$STATE/log"

log() { printf '[infra] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    port_open "$1" && return 0
    sleep 0.2
  done
  log "$2 did not open port $1 within $3 s; see $STATE/log/$2.log"
  tail -n 30 "$STATE/log/$2.log" >&2 || true
  return 1
}

pid_alive() { [[ -f "$STATE/run/$1.pid" ]] && kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null; }

fetch_kafka() {
  if [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn is needed to fetch Kafka's jars (apt-get install maven)"; exit 1; }
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS.tmp"
  mvn -q -B -f "$ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp"
  rm -rf "$KAFKA_LIBS" && mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

build_ferretdb() {
  if [[ -x "$FERRETDB_BIN" ]]; then return 0; fi
  command -v go >/dev/null || { log "go is needed to build FerretDB"; exit 1; }
  log "building FerretDB $FERRETDB_VERSION (embeddable package, SQLite handler, infra/ferretdb/patches) into $FERRETDB_BIN"
  # Our main is built against a copy of FerretDB's module with our patches applied (go.mod's
  # replace points at it); the module cache itself is read-only, and go's -overlay refuses it.
  local work="$CACHE/build/ferretdb-$FERRETDB_SRC_HASH" src patch
  rm -rf "$work" && mkdir -p "$work"
  cp "$ROOT"/infra/ferretdb/{main.go,go.mod,go.sum} "$work/"
  (
    cd "$work"
    export GOFLAGS=-mod=mod
    go mod download github.com/FerretDB/FerretDB
    src="$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)"
    cp -R "$src" FerretDB && chmod -R u+w FerretDB
    for patch in "$ROOT"/infra/ferretdb/patches/*.patch; do
      # git apply as a plain patch tool: no repository above the copy is looked at
      (cd FerretDB && GIT_CEILING_DIRECTORIES="$work" git apply "$patch")
    done
    go mod edit -replace github.com/FerretDB/FerretDB=./FerretDB
    go build -o "$FERRETDB_BIN.tmp" .
  )
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$work"
}

kafka_config() {
  local dir="$STATE/$KAFKA_NAME"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_VOTERS
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT${KAFKA_SCRAM_PORT:+,SCRAM://127.0.0.1:$KAFKA_SCRAM_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT${KAFKA_SCRAM_PORT:+,SCRAM://127.0.0.1:$KAFKA_SCRAM_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SCRAM:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.scram.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=$KAFKA_RF
offsets.topic.num.partitions=12
default.replication.factor=$KAFKA_RF
min.insync.replicas=$KAFKA_MIN_ISR
transaction.state.log.replication.factor=$KAFKA_RF
transaction.state.log.min.isr=$KAFKA_MIN_ISR
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    log "formatting Kafka storage in $dir/data"
    local cluster_id="$KAFKA_CLUSTER_ID"
    [[ -n "$cluster_id" ]] || cluster_id="$(java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    local scram=() user
    if [[ -n "$KAFKA_SCRAM_USERS" ]]; then
      IFS=',' read -ra users <<<"$KAFKA_SCRAM_USERS"
      for user in "${users[@]}"; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]")
      done
    fi
    java -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties" \
      kafka.tools.StorageTool format --ignore-formatted --cluster-id "$cluster_id" \
      --config "$dir/server.properties" "${scram[@]}" >>"$STATE/log/$KAFKA_NAME.log" 2>&1
  fi
}

start_kafka() {
  if port_open "$KAFKA_PORT"; then log "Kafka already listening on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  fetch_kafka
  kafka_config
  log "starting Kafka $KAFKA_VERSION (KRaft, $KAFKA_NAME, node $KAFKA_NODE_ID) on 127.0.0.1:$KAFKA_PORT"
  # a broker keeps files open per partition segment; the default 20000 runs out with many topics
  ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
  nohup java -Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$STATE/$KAFKA_NAME/server.properties" \
    >>"$STATE/log/$KAFKA_NAME.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/run/$KAFKA_NAME.pid"
  wait_port "$KAFKA_PORT" "$KAFKA_NAME" 90
}

start_ferretdb() {
  if port_open "$MONGO_PORT"; then log "FerretDB already listening on 127.0.0.1:$MONGO_PORT"; return 0; fi
  build_ferretdb
  log "starting FerretDB $FERRETDB_VERSION on 127.0.0.1:$MONGO_PORT"
  nohup "$FERRETDB_BIN" -listen "127.0.0.1:$MONGO_PORT" -data "$STATE/ferretdb" \
    >>"$STATE/log/ferretdb.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/run/ferretdb.pid"
  wait_port "$MONGO_PORT" ferretdb 30
}

stop_one() { # name [signal]
  local name="$1" sig="${2:-TERM}" pid i
  pid_alive "$name" || { rm -f "$STATE/run/$name.pid"; return 0; }
  pid="$(cat "$STATE/run/$name.pid")"
  log "stopping $name (pid $pid)"
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$STATE/run/$name.pid"
}

case "${1:-}" in
  fetch) fetch_kafka; build_ferretdb ;;
  up)
    # One start at a time per state dir: two at once (two terminals, two test runs) both see
    # nothing running, and two brokers fight over one log dir and port.
    exec 9>"$STATE/run/infra.lock"
    flock 9
    fetch_kafka; build_ferretdb; start_kafka; start_ferretdb ;;
  start-kafka) start_kafka ;;
  start-ferretdb) start_ferretdb ;;
  stop-kafka) stop_one "$KAFKA_NAME" "${2:-TERM}" ;;
  stop-ferretdb) stop_one ferretdb "${2:-TERM}" ;;
  down) stop_one ferretdb; stop_one "$KAFKA_NAME" ;;
  status)
    for pair in "kafka:$KAFKA_PORT" "ferretdb:$MONGO_PORT"; do
      name="${pair%%:*}" port="${pair##*:}"
      if port_open "$port"; then echo "$name up on 127.0.0.1:$port"; else echo "$name down"; fi
    done ;;
  *) echo "usage: $0 fetch|up|down|status|start-kafka|stop-kafka [SIG]|start-ferretdb|stop-ferretdb [SIG]" >&2; exit 2 ;;
esac
