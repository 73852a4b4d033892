#!/usr/bin/env bash
# End-to-end on kind: create a cluster, build and load the image, apply manifests/ (through
# the e2e overlay), then check, in order:
#   1. both Autonomic replicas become ready;
#   2. exactly one holds the Lease autonomic-leader;
#   3. a sample Deployment rolled out to a crash-looping revision is rolled back by
#      Autonomic within E2E_ROLLBACK_MINUTES (E2E_EXPECT=rollback, the default), or at
#      least Autonomic posts an Event about it (E2E_EXPECT=decision);
#   4. killing the leader hands the Lease to the other replica (failover time printed).
# E2E_EXPECT=ready stops after step 2. Needs docker (with an engine), kind and kubectl.
# Run through pytest: `pytest -m e2e tests/e2e` (docs/deploy.md, "End-to-end on kind").
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${KIND_CLUSTER_NAME:-autonomic-e2e}
NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.32.2}
IMAGE=autonomic:e2e
SAMPLE_IMAGE=busybox:1.36.1
EXPECT=${E2E_EXPECT:-rollback}
ROLLBACK_MINUTES=${E2E_ROLLBACK_MINUTES:-5}
KEEP=${E2E_KEEP_CLUSTER:-0}
REUSE=${E2E_REUSE_CLUSTER:-0}
ARTIFACTS=${E2E_ARTIFACTS:-}
K=(kubectl --context "kind-$CLUSTER")

say() { echo "e2e [$(date -u +%H:%M:%S)]: $*" >&2; }

dump() {
  say "--- state at failure ---"
  "${K[@]}" get pods -A -o wide >&2 || true
  "${K[@]}" -n autonomic get lease,deploy,rs,events >&2 || true
  "${K[@]}" -n autonomic-e2e get deploy,rs,pods,events >&2 || true
  "${K[@]}" -n autonomic logs -l app.kubernetes.io/name=autonomic --tail=200 --prefix >&2 || true
  if [ -n "$ARTIFACTS" ]; then
    mkdir -p "$ARTIFACTS"
    kind export logs "$ARTIFACTS" --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
}

fail() {
  say "FAIL: $*"
  dump
  exit 1
}

cleanup() {
  if [ "$KEEP" = 1 ]; then
    say "keeping cluster $CLUSTER (kind delete cluster --name $CLUSTER)"
  else
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 2 s until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      fail "$what: not within $seconds s"
    fi
    sleep 2
  done
}

lease_holder() {
  "${K[@]}" -n autonomic get lease autonomic-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}

has_leader() { [ -n "$(lease_holder)" ]; }

sample_command() {
  "${K[@]}" -n autonomic-e2e get deploy sample-web \
    -o jsonpath='{.spec.template.spec.containers[0].command[2]}'
}

rolled_back() {
  # The template is the good revision again, and that revision is fully available.
  [[ "$(sample_command)" == *"while true"* ]] || return 1
  "${K[@]}" -n autonomic-e2e rollout status deploy/sample-web --timeout=5s
}

autonomic_event() {
  "${K[@]}" -n autonomic-e2e get events -o json \
    | python3 -c '
import json, sys
events = json.load(sys.stdin)["items"]
mine = [e for e in events
        if e.get("involvedObject", {}).get("name", "").startswith("sample-web")
        and "autonomic" in (e.get("reportingComponent") or e.get("source", {}).get("component") or "").lower()]
for e in mine:
    print(e.get("reason"), "-", e.get("message"), file=sys.stderr)
sys.exit(0 if mine else 1)'
}

crash_looping() {
  "${K[@]}" -n autonomic-e2e get pods -l app=sample-web \
    -o jsonpath='{.items[*].status.containerStatuses[*].state.waiting.reason}' \
    | grep -q CrashLoopBackOff
}

# ------------------------------------------------------------------------- cluster
if [ "$REUSE" = 1 ] && kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "reusing cluster $CLUSTER"
else
  kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  say "creating cluster $CLUSTER ($NODE_IMAGE)"
  kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" \
    --config tests/e2e/kind-config.yaml --wait 180s
fi
trap cleanup EXIT

say "building $IMAGE"
docker build -t "$IMAGE" .
say "loading images into the cluster"
kind load docker-image "$IMAGE" --name "$CLUSTER"
docker pull -q "$SAMPLE_IMAGE" >/dev/null
kind load docker-image "$SAMPLE_IMAGE" --name "$CLUSTER"

# ------------------------------------------------------------------- 1. ready
say "applying manifests (tests/e2e/overlay over manifests/)"
"${K[@]}" apply -k tests/e2e/overlay
"${K[@]}" -n autonomic rollout status deploy/autonomic --timeout=240s \
  || fail "Autonomic did not become ready"
say "Autonomic is ready"

# ------------------------------------------------------------------- 2. leader
wait_for 60 "a replica holding the Lease" has_leader
leader=$(lease_holder)
pods=$("${K[@]}" -n autonomic get pods -l app.kubernetes.io/name=autonomic \
  -o jsonpath='{.items[*].metadata.name}')
say "leader: $leader (pods: $pods)"
leader_pod() {
  local holder pod
  holder=$(lease_holder)
  for pod in $pods; do
    if [[ "$holder" == *"$pod"* ]]; then echo "$pod"; fi
  done
}
[ -n "$(leader_pod)" ] || say "note: the holder identity does not name a current pod"
if [ "$EXPECT" = ready ]; then
  say "PASS (ready and leader elected)"
  exit 0
fi

# ------------------------------------------------------------------- 3. break the sample
say "deploying the sample workload"
"${K[@]}" apply -f tests/e2e/sample/namespace.yaml
"${K[@]}" apply -f tests/e2e/sample/deployment.yaml
"${K[@]}" -n autonomic-e2e rollout status deploy/sample-web --timeout=120s \
  || fail "the sample workload did not become ready"
say "rolling the sample out to a crash-looping revision"
"${K[@]}" -n autonomic-e2e patch deploy sample-web --type=strategic \
  --patch-file tests/e2e/sample/broken-patch.yaml
wait_for 180 "the broken revision crash-looping" crash_looping
broke_at=$(date +%s)
say "the sample is crash-looping; waiting up to $ROLLBACK_MINUTES min for Autonomic"
if [ "$EXPECT" = decision ]; then
  wait_for $(( ROLLBACK_MINUTES * 60 )) "an Autonomic Event on sample-web" autonomic_event
  say "Autonomic recorded a decision after $(( $(date +%s) - broke_at )) s"
else
  wait_for $(( ROLLBACK_MINUTES * 60 )) "Autonomic rolling sample-web back" rolled_back
  say "rolled back $(( $(date +%s) - broke_at )) s after the crash loop was seen"
  autonomic_event || say "note: no Autonomic Event found on sample-web"
fi

# ------------------------------------------------------------------- 4. failover
killed=$(leader_pod)
if [ -z "$killed" ]; then
  say "skipping failover: cannot tell which pod '$(lease_holder)' is"
else
  say "killing the leader $killed (grace period 0)"
  killed_at=$(date +%s)
  "${K[@]}" -n autonomic delete pod "$killed" --grace-period=0 --force --wait=false
  new_leader() { local h; h=$(lease_holder); [ -n "$h" ] && [[ "$h" != *"$killed"* ]]; }
  wait_for 60 "another replica taking the Lease" new_leader
  say "failover: $(lease_holder) took over $(( $(date +%s) - killed_at )) s after the kill"
fi

say "PASS"
