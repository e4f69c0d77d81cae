#!/usr/bin/env bash
# Copies the shipped org directory and escalation policy into deploy/k8s/base/config/, where
# kustomize's configMapGenerator can read them (it refuses files outside the kustomization, links
# included). Run after changing either source; tests/deploy fails while a copy is stale.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/deploy/k8s/base/config"

copy() { # source destination
  if [[ -f "$ROOT/$1" ]]; then
    if ! cmp -s "$ROOT/$1" "$DEST/$2"; then
      cp "$ROOT/$1" "$DEST/$2"
      echo "[sync] $1 -> deploy/k8s/base/config/$2"
    fi
  else
    echo "[sync] $1 not found; keeping deploy/k8s/base/config/$2 as it is" >&2
  fi
}

mkdir -p "$DEST"
copy shared/org/demo_district.yaml org.yaml
copy shared/policy/default_policy.yaml policy.yaml
