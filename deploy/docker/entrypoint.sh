#!/bin/sh
# Starts one Hulin service in the container: `entrypoint.sh patrol|incidents|notify [uvicorn args…]`.
#
# Why a script and not three images: the three services share one code base and one dependency set,
# so one image (one scan, one signature, one tag to roll back) runs any of them by argument.
#
# `exec` matters: it replaces this shell with uvicorn, so uvicorn is the process that receives
# SIGTERM from `docker stop` / the kubelet. Uvicorn then stops accepting connections, waits for
# in-flight requests (at most --timeout-graceful-shutdown seconds), and runs the app's lifespan
# shutdown, which stops the consumers (they commit the offsets of what they finished), flushes the
# producer and closes Kafka and MongoDB. Without `exec`, the shell would swallow the signal and the
# process would be killed hard after the grace period.
set -eu

usage() {
    echo "usage: entrypoint.sh patrol|incidents|notify [extra uvicorn options]" >&2
    exit 64 # EX_USAGE
}

[ "$#" -ge 1 ] || usage
service="$1"
shift

case "$service" in
    patrol) default_port=8001 ;;
    incidents) default_port=8002 ;;
    notify) default_port=8003 ;;
    -h | --help | help) usage ;;
    *)
        echo "entrypoint.sh: unknown service '$service'" >&2
        usage
        ;;
esac

# HULIN_PORT lets an operator move a service; the defaults are the contract's ports.
port="${HULIN_PORT:-$default_port}"
# Kubernetes' default grace period is 30 s and the pod spends 5 s of it in the preStop sleep; 15 s
# for in-flight requests leaves ~10 s for the lifespan shutdown (commit offsets, close clients).
graceful="${HULIN_GRACEFUL_SHUTDOWN_S:-15}"

exec uvicorn "services.${service}.app:create_app" \
    --factory \
    --host "${HULIN_HOST:-0.0.0.0}" \
    --port "$port" \
    --timeout-graceful-shutdown "$graceful" \
    --no-access-log \
    "$@"
