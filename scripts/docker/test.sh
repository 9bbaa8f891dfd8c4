#!/usr/bin/env bash
# Docker test (npm run test:docker): builds the image from the Dockerfile and proves, with a real
# Docker engine, that it starts and serves on a CPU host (`docker run` without --gpus).
#
#   1. a Docker daemon: uses the running one, else starts dockerd (root only; DOCKERD_ARGS)
#   2. base images: local stand-ins by default (scripts/docker/make-standins.sh: debootstrap'ed
#      Debian + this host's node/npm), for machines that cannot pull from a registry.
#      USE_STANDINS=0 builds with the Dockerfile's real bases (node:24-bookworm-slim,
#      nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04) instead.
#   3. docker build (BuildKit, --network=host, ORT_CUDA=skip, the npm CA bundle as a build secret)
#   4. image checks: user, healthcheck, env, contents (Node.js 24), no CA bundle/secret inside
#   5. docker run (no --gpus, --network=host, PORT=<free port>): waits for /health/ready, then
#      scripts/docker/smoke.mjs: POST /predict with a generated PNG, GET /models (provider cpu),
#      GET /metrics; waits for Docker's HEALTHCHECK to report healthy
#   6. docker stop (SIGTERM): exit code 0, clean-shutdown log line, well before the kill timeout
#   7. your own model mounted: -v models/shapes:/app/models/mine:ro -e MODEL_NAME=mine
#   8. EXECUTION_PROVIDER=cuda on a host without GPU: must fail fast with a clear message
# Prints PASS/FAIL per check and a summary; exits 1 if any check failed.
#
# Environment (all optional)
#   IMAGE=maskrcnn-serve:docker-test   USE_STANDINS=1   ORT_CUDA=skip   NODE_BASE=  RUNTIME_BASE=
#   NPM_CA_FILE=<PEM bundle given to the build as secret npm_ca> (default: npm's cafile, else
#               NODE_EXTRA_CA_CERTS, else none)
#   SKIP_BUILD=1 (reuse IMAGE)   TEST_PORT=<port> (default: a free one)   READY_TIMEOUT=240 (s)
#   DOCKER=docker   DOCKERD_ARGS="--iptables=false --ip-masq=false --bridge=none --storage-driver=vfs"
#   TEST_GPUS=all (GPU host, image built with ORT_CUDA=cuda12 and the real bases: runs the
#               containers with --gpus all, expects provider cuda, skips step 8)
#   MOUNT_MODEL_DIR=models/shapes (the model folder mounted in step 7)
#   EXPECT_NODE_MAJOR=24 (the Node.js major the image must ship)
#   KEEP_CONTAINERS=1 (leave failed containers for inspection)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-maskrcnn-serve:docker-test}
USE_STANDINS=${USE_STANDINS:-1}
ORT_CUDA=${ORT_CUDA:-skip}
READY_TIMEOUT=${READY_TIMEOUT:-240}
EXPECT_NODE_MAJOR=${EXPECT_NODE_MAJOR:-24}
DOCKERD_ARGS=${DOCKERD_ARGS:---iptables=false --ip-masq=false --bridge=none --storage-driver=vfs}
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/maskrcnn-dockerd.log}
ART=${ARTIFACTS_DIR:-$ROOT/test-artifacts/docker}
MOUNT_MODEL_DIR=$(cd "${MOUNT_MODEL_DIR:-models/shapes}" && pwd)
NAME=maskrcnn-docker-test-$$
GPU_ARGS=() EXPECT_PROVIDER=cpu
if [[ -n "${TEST_GPUS:-}" ]]; then GPU_ARGS=(--gpus "$TEST_GPUS"); EXPECT_PROVIDER=cuda; fi
mkdir -p "$ART"

# ------------------------------------------------------------------------------ reporting
declare -a RESULTS=() TIMES=()
FAILED=0
T_START=$(date +%s)
pass() { RESULTS+=("PASS $1${2:+: $2}"); echo "PASS $1${2:+: $2}"; }
fail() { RESULTS+=("FAIL $1${2:+: $2}"); echo "FAIL $1${2:+: $2}" >&2; FAILED=$((FAILED + 1)); }
log() { printf '\n== %s\n' "$*"; }
PHASE_NAME="" PHASE_T0=0
phase() { # phase NAME: closes the previous phase (records its duration) and opens NAME
  [[ -n "$PHASE_NAME" ]] && TIMES+=("$PHASE_NAME $(( SECONDS - PHASE_T0 ))s")
  PHASE_NAME=$1 PHASE_T0=$SECONDS
}
summary() {
  local total=$(( $(date +%s) - T_START ))
  phase ""
  echo
  echo "================ docker test summary ================"
  printf '%s\n' "${RESULTS[@]}"
  echo "-----------------------------------------------------"
  [[ -n "${T_BUILD:-}" ]] && echo "image build: ${T_BUILD}s   image size: ${IMAGE_SIZE:-?}"
  [[ ${#TIMES[@]} -gt 0 ]] && echo "phases: $(IFS=','; echo "${TIMES[*]}" | sed 's/,/, /g')"
  echo "total: ${total}s   logs: ${ART#"$ROOT"/}/"
  if [[ $FAILED -eq 0 && ${#RESULTS[@]} -gt 0 ]]; then
    echo "RESULT: PASS (${#RESULTS[@]} checks)"
  else
    echo "RESULT: FAIL ($FAILED of ${#RESULTS[@]} checks failed)"
  fi
}
cleanup() {
  local c
  for c in "$NAME" "$NAME-mount" "$NAME-cuda"; do
    if "$DOCKER" container inspect "$c" >/dev/null 2>&1; then
      "$DOCKER" logs "$c" >"$ART/$c.log" 2>&1 || true
      if [[ "${KEEP_CONTAINERS:-0}" = 1 && $FAILED -gt 0 ]]; then
        echo "kept container $c (KEEP_CONTAINERS=1)"
      else
        "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true
      fi
    fi
  done
}
finish() { cleanup; summary; [[ $FAILED -eq 0 ]] && exit 0 || exit 1; }
trap 'echo "interrupted" >&2; FAILED=$((FAILED + 1)); finish' INT TERM
abort() { fail "$1" "$2"; finish; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
http_status() { # URL -> HTTP status, or 000 when nothing answers
  node -e "fetch(process.argv[1],{signal:AbortSignal.timeout(3000)}).then(r=>console.log(r.status),()=>console.log('000'))" "$1"
}
state() { "$DOCKER" inspect -f "$2" "$1" 2>/dev/null; }

# Waits for GET /health/ready = 200 on PORT while container C runs. Sets READY_S.
wait_ready() {
  local c=$1 port=$2 t0=$SECONDS code running
  while (( SECONDS - t0 < READY_TIMEOUT )); do
    running=$(state "$c" '{{.State.Running}}')
    if [[ "$running" != true ]]; then
      echo "container $c stopped (exit $(state "$c" '{{.State.ExitCode}}')) before becoming ready:" >&2
      "$DOCKER" logs --tail 40 "$c" >&2 2>&1
      return 1
    fi
    code=$(http_status "http://127.0.0.1:$port/health/ready")
    [[ "$code" = 200 ]] && { READY_S=$(( SECONDS - t0 )); return 0; }
    sleep 1
  done
  echo "not ready after ${READY_TIMEOUT}s (last /health/ready status $code):" >&2
  "$DOCKER" logs --tail 40 "$c" >&2 2>&1
  return 1
}

# ------------------------------------------------------------------------------ 1. daemon
phase daemon
log "Docker daemon"
command -v node >/dev/null || abort "prerequisites" "node (>= 22.13) is needed on the host for the HTTP checks"
command -v "$DOCKER" >/dev/null || abort "prerequisites" "no docker CLI (apt-get install -y docker.io)"
if ! "$DOCKER" info >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v dockerd >/dev/null; then
    echo "no running daemon: starting dockerd $DOCKERD_ARGS (log: $DOCKERD_LOG)"
    # shellcheck disable=SC2086  # word splitting of DOCKERD_ARGS is intended
    nohup nice -n 10 dockerd $DOCKERD_ARGS >"$DOCKERD_LOG" 2>&1 &
    for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  fi
  "$DOCKER" info >/dev/null 2>&1 || abort "docker daemon" "not reachable and could not be started (see $DOCKERD_LOG)"
fi
pass "docker daemon" "server $("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null), storage $("$DOCKER" info --format '{{.Driver}}' 2>/dev/null)"

# BuildKit is required (RUN --mount=type=secret). With the buildx plugin `docker build` is
# BuildKit; without it, a docker CLI < 23 (e.g. Debian's docker.io 20.10) has BuildKit built in.
BUILD_CLI=""
if "$DOCKER" buildx version >/dev/null 2>&1; then
  BUILD_CLI=$DOCKER
else
  for c in "$DOCKER" /usr/bin/docker; do
    [[ -x "$(command -v "$c")" ]] || continue
    v=$("$c" version --format '{{.Client.Version}}' 2>/dev/null || true)
    if [[ "$v" =~ ^([0-9]+)\. ]] && (( BASH_REMATCH[1] < 23 )); then BUILD_CLI=$c; break; fi
  done
fi

# ------------------------------------------------------------------------------ 2. bases
phase stand-ins
if [[ "$USE_STANDINS" = 1 ]]; then
  log "Stand-in base images"
  NODE_BASE=${NODE_BASE:-maskrcnn-standin/node:24-bookworm-slim}
  RUNTIME_BASE=${RUNTIME_BASE:-maskrcnn-standin/debian:bookworm}
  t0=$SECONDS
  if STANDIN_NODE_IMAGE=$NODE_BASE STANDIN_OS_IMAGE=$RUNTIME_BASE DOCKER=$DOCKER \
      bash "$ROOT/scripts/docker/make-standins.sh"; then
    pass "stand-in base images" "$NODE_BASE, $RUNTIME_BASE ($(( SECONDS - t0 ))s)"
  else
    abort "stand-in base images" "scripts/docker/make-standins.sh failed"
  fi
else
  NODE_BASE=${NODE_BASE:-node:24-bookworm-slim}
  RUNTIME_BASE=${RUNTIME_BASE:-nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04}
fi

# ------------------------------------------------------------------------------ 3. build
phase build
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "docker build ($IMAGE; NODE_BASE=$NODE_BASE RUNTIME_BASE=$RUNTIME_BASE ORT_CUDA=$ORT_CUDA)"
  [[ -n "$BUILD_CLI" ]] || abort "docker build" "BuildKit unavailable: install the buildx plugin (docker-buildx-plugin / docker-buildx)"
  [[ -f models/shapes/model.onnx && -f models/shapes/manifest.json ]] \
    || abort "docker build" "models/shapes/model.onnx + manifest.json missing (the default model is baked into the image)"
  CA=${NPM_CA_FILE:-}
  if [[ -z "$CA" ]]; then
    CA=$(npm config get cafile 2>/dev/null || true)
    [[ "$CA" = null || "$CA" = undefined ]] && CA=""
    [[ -z "$CA" ]] && CA=${NODE_EXTRA_CA_CERTS:-}
  fi
  secret=()
  if [[ -n "$CA" && -s "$CA" ]]; then
    secret=(--secret "id=npm_ca,src=$CA")
    echo "npm CA bundle for the build (BuildKit secret, not stored in the image): $CA"
  fi
  t0=$SECONDS
  if DOCKER_BUILDKIT=1 "$BUILD_CLI" build --network=host --progress=plain \
      --build-arg "NODE_BASE=$NODE_BASE" --build-arg "RUNTIME_BASE=$RUNTIME_BASE" \
      --build-arg "ORT_CUDA=$ORT_CUDA" "${secret[@]}" -t "$IMAGE" . >"$ART/build.log" 2>&1; then
    T_BUILD=$(( SECONDS - t0 ))
    pass "docker build" "${T_BUILD}s (log: ${ART#"$ROOT"/}/build.log)"
  else
    T_BUILD=$(( SECONDS - t0 ))
    tail -n 40 "$ART/build.log" >&2
    abort "docker build" "failed after ${T_BUILD}s (log: ${ART#"$ROOT"/}/build.log)"
  fi
else
  "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || abort "docker build" "SKIP_BUILD=1 but no image $IMAGE"
fi
IMAGE_SIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')

# ------------------------------------------------------------------------------ 4. image checks
phase image-checks
log "Image configuration and contents"
cfg=$("$DOCKER" image inspect "$IMAGE" --format \
  'user={{.Config.User}} stop={{.Config.StopSignal}} ports={{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}health={{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}} cmd={{join .Config.Cmd " "}} env={{join .Config.Env " "}}')
problems=()
[[ "$cfg" == *"user=app "* ]] || problems+=("user is not app")
[[ "$cfg" == *"stop=SIGTERM "* ]] || problems+=("STOPSIGNAL is not SIGTERM")
[[ "$cfg" == *"ports=8080/tcp "* ]] || problems+=("does not EXPOSE 8080")
[[ "$cfg" == *"/health/ready"* ]] || problems+=("HEALTHCHECK does not hit /health/ready")
for e in EXECUTION_PROVIDER=auto PORT=8080 HOST=0.0.0.0; do [[ "$cfg" == *" $e"* ]] || problems+=("env $e missing"); done
[[ "$cfg" == *NODE_EXTRA_CA_CERTS* || "$cfg" == *npm_config_cafile* ]] && problems+=("CA settings in the image env")
[[ ${#problems[@]} -eq 0 ]] && pass "image config" "$IMAGE_SIZE; user app, EXPOSE 8080, STOPSIGNAL SIGTERM, HEALTHCHECK /health/ready, EXECUTION_PROVIDER=auto PORT=8080 HOST=0.0.0.0" \
  || fail "image config" "$(IFS=';'; echo "${problems[*]}") [$cfg]"

CA_SIZE=0; CA_SUM=none
if [[ -n "${CA:-}" && -s "${CA:-}" ]]; then CA_SIZE=$(stat -c %s "$CA"); CA_SUM=$(sha256sum "$CA" | cut -d' ' -f1); fi
contents=$("$DOCKER" run --rm --network=none "$IMAGE" sh -c '
  set -u; bad=""
  [ "$(id -u)" != 0 ] || bad="$bad runs-as-root"
  for f in dist/src/server.js package.json models/shapes/model.onnx models/shapes/manifest.json; do [ -s "$f" ] || bad="$bad missing:$f"; done
  [ -d openapi ] || bad="$bad missing:openapi/"
  [ -z "$(find models -name "*.pt" -o -name "*.pth")" ] || bad="$bad training-checkpoint-in-models"
  for d in node_modules/typescript node_modules/tsx node_modules/@types src work .git test; do [ ! -e "$d" ] || bad="$bad unexpected:$d"; done
  [ ! -e /run/secrets/npm_ca ] || bad="$bad secret-present"
  if [ "'"$CA_SIZE"'" != 0 ]; then
    for f in $(find / -xdev -type f -size '"$CA_SIZE"'c 2>/dev/null); do
      [ "$(sha256sum "$f" | cut -d" " -f1)" != "'"$CA_SUM"'" ] || bad="$bad ca-bundle-copy:$f"
    done
  fi
  ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64 | tr "\n" " " | sed "s/^/ort-libs: /"; echo
  echo "node $(node --version); uid $(id -u)"
  case "$(node --version)" in v'"$EXPECT_NODE_MAJOR"'.*) ;; *) bad="$bad node-is-not-v'"$EXPECT_NODE_MAJOR"'";; esac
  [ -z "$bad" ] || { echo "PROBLEMS:$bad"; exit 1; }' 2>&1)
if [[ $? -eq 0 ]]; then pass "image contents" "$(echo "$contents" | tr '\n' ';')"; else fail "image contents" "$(echo "$contents" | tr '\n' ';')"; fi
if "$DOCKER" history --no-trunc "$IMAGE" 2>/dev/null | grep -q -e 'BEGIN CERTIFICATE' -e 'npm_config_cafile='; then
  fail "no CA bundle in image history"
else
  pass "no CA bundle in image layers/history" "secret mounted at build time only"
fi

# ------------------------------------------------------------------------------ 5. run (CPU host)
phase run+http
PORT=${TEST_PORT:-$(free_port)}
log "docker run (${GPU_ARGS[*]:-no --gpus}, --network=host, PORT=$PORT)"
t0=$SECONDS
if ! "$DOCKER" run -d --name "$NAME" --network=host "${GPU_ARGS[@]}" -e "PORT=$PORT" "$IMAGE" >/dev/null; then
  abort "docker run" "could not start the container"
fi
if wait_ready "$NAME" "$PORT"; then
  pass "container ready" "GET /health/ready 200 after ${READY_S}s (${GPU_ARGS[*]:-no --gpus}, EXECUTION_PROVIDER=auto)"
else
  fail "container ready" "see ${ART#"$ROOT"/}/$NAME.log"; finish
fi

log "HTTP checks (scripts/docker/smoke.mjs)"
if node "$ROOT/scripts/docker/smoke.mjs" --url "http://127.0.0.1:$PORT" --provider "$EXPECT_PROVIDER" --png-out "$ART/square.png" \
    --job-file "$ART/job-id" >"$ART/smoke.out" 2>&1; then
  smoke_ok=1
else
  smoke_ok=0
fi
while IFS= read -r line; do
  case "$line" in
    PASS\ *) pass "${line#PASS }";;
    FAIL\ *) fail "${line#FAIL }";;
  esac
done <"$ART/smoke.out"
[[ $smoke_ok = 1 ]] || grep -q '^FAIL' "$ART/smoke.out" || fail "smoke.mjs" "$(tail -n 5 "$ART/smoke.out")"

# Docker's own HEALTHCHECK (runs inside the container with node's fetch; first probe after 15s).
t1=$SECONDS; hs=""
while (( SECONDS - t1 < 60 )); do
  hs=$(state "$NAME" '{{if .State.Health}}{{.State.Health.Status}}{{end}}')
  [[ "$hs" = healthy || "$hs" = unhealthy ]] && break
  sleep 2
done
if [[ "$hs" = healthy ]]; then pass "docker HEALTHCHECK" "healthy"; else
  fail "docker HEALTHCHECK" "status '$hs': $(state "$NAME" '{{if .State.Health}}{{range .State.Health.Log}}{{.ExitCode}} {{.Output}};{{end}}{{end}}')"
fi

# ------------------------------------------------------------------------------ 6. docker stop
phase stop
log "docker stop (SIGTERM)"
t1=$SECONDS
"$DOCKER" stop -t 30 "$NAME" >/dev/null
T_STOP=$(( SECONDS - t1 ))
"$DOCKER" logs "$NAME" >"$ART/container.log" 2>&1
code=$(state "$NAME" '{{.State.ExitCode}}')
oom=$(state "$NAME" '{{.State.OOMKilled}}')
if [[ "$code" = 0 && "$oom" = false && $T_STOP -lt 30 ]]; then
  pass "docker stop" "exit code 0 after ${T_STOP}s (SIGTERM, not killed)"
else
  fail "docker stop" "exit code $code, OOMKilled $oom, took ${T_STOP}s"
fi
# The last lines must show the graceful path (close-with-grace / fastify close), not a crash.
if tail -n 15 "$ART/container.log" | grep -Eiq 'shut ?down|closing|closed|graceful|SIGTERM|stopp'; then
  pass "clean shutdown logged" "$(grep -Ei 'shut ?down|closing|closed|graceful|SIGTERM|stopp' "$ART/container.log" | tail -n 2 | cut -c1-220 | tr '\n' ' ')"
else
  fail "clean shutdown logged" "no shutdown line in the last log lines: $(tail -n 3 "$ART/container.log" | tr '\n' ' ')"
fi
if grep -Eq '"level":(50|60)|Unhandled|uncaught' "$ART/container.log"; then
  fail "no errors in the container log" "$(grep -E '"level":(50|60)|Unhandled|uncaught' "$ART/container.log" | head -n 3 | cut -c1-300)"
else
  pass "no errors in the container log" "$(wc -l <"$ART/container.log") lines, none at error/fatal level"
fi
# The same container started again: its /data volume (the embedded store) still holds the job.
if [[ -s "$ART/job-id" ]]; then
  "$DOCKER" start "$NAME" >/dev/null
  if wait_ready "$NAME" "$PORT" && node "$ROOT/scripts/docker/smoke.mjs" --url "http://127.0.0.1:$PORT" \
      --provider "$EXPECT_PROVIDER" --phase after-restart --job-file "$ART/job-id" >"$ART/smoke-restart.out" 2>&1; then
    pass "job kept across a container restart" "$(grep -E '^PASS the job' "$ART/smoke-restart.out" | cut -c1-200)"
  else
    fail "job kept across a container restart" "$(grep '^FAIL' "$ART/smoke-restart.out" 2>/dev/null | head -n 3 | tr '\n' ' ')"
  fi
  "$DOCKER" stop -t 30 "$NAME" >/dev/null 2>&1
fi
"$DOCKER" rm -v "$NAME" >/dev/null 2>&1

# ------------------------------------------------------------------------------ 7. mounted model
phase mounted-model
PORT2=${TEST_PORT2:-$(free_port)}
log "Own model mounted (-v ${MOUNT_MODEL_DIR#"$ROOT"/}:/app/models/mine:ro -e MODEL_NAME=mine, PORT=$PORT2)"
if "$DOCKER" run -d --name "$NAME-mount" --network=host "${GPU_ARGS[@]}" -e "PORT=$PORT2" -e MODEL_NAME=mine \
    -v "$MOUNT_MODEL_DIR:/app/models/mine:ro" "$IMAGE" >/dev/null && wait_ready "$NAME-mount" "$PORT2"; then
  pass "mounted model ready" "after ${READY_S}s"
  if node "$ROOT/scripts/docker/smoke.mjs" --url "http://127.0.0.1:$PORT2" --provider "$EXPECT_PROVIDER" --phase predict >"$ART/smoke-mount.out" 2>&1; then
    pass "mounted model serves" "$(grep -E '^PASS POST' "$ART/smoke-mount.out" | cut -c1-200)"
  else
    fail "mounted model serves" "$(grep '^FAIL' "$ART/smoke-mount.out" | head -n 3 | tr '\n' ' ')"
  fi
  "$DOCKER" stop -t 30 "$NAME-mount" >/dev/null
  code=$(state "$NAME-mount" '{{.State.ExitCode}}')
  [[ "$code" = 0 ]] && pass "mounted model: docker stop" "exit 0" || fail "mounted model: docker stop" "exit code $code"
else
  fail "mounted model ready" "see ${ART#"$ROOT"/}/$NAME-mount.log"
fi
"$DOCKER" logs "$NAME-mount" >"$ART/container-mount.log" 2>&1 || true
"$DOCKER" rm -f "$NAME-mount" >/dev/null 2>&1

# ------------------------------------------------------------------------------ 8. cuda on CPU host
phase cuda-negative
if [[ -n "${TEST_GPUS:-}" ]]; then finish; fi
log "EXECUTION_PROVIDER=cuda without a GPU must fail fast"
PORT3=$(free_port)
"$DOCKER" run -d --name "$NAME-cuda" --network=host -e "PORT=$PORT3" -e EXECUTION_PROVIDER=cuda "$IMAGE" >/dev/null
t1=$SECONDS
while (( SECONDS - t1 < 90 )) && [[ "$(state "$NAME-cuda" '{{.State.Running}}')" = true ]]; do sleep 1; done
code=$(state "$NAME-cuda" '{{.State.ExitCode}}'); running=$(state "$NAME-cuda" '{{.State.Running}}')
"$DOCKER" logs "$NAME-cuda" >"$ART/container-cuda.log" 2>&1
if [[ "$running" = false && "$code" != 0 ]] && grep -qi cuda "$ART/container-cuda.log"; then
  pass "EXECUTION_PROVIDER=cuda on a CPU host" "exit $code after $(( SECONDS - t1 ))s: $(grep -i cuda "$ART/container-cuda.log" | tail -n 1 | cut -c1-200)"
else
  fail "EXECUTION_PROVIDER=cuda on a CPU host" "running=$running exit=$code: $(tail -n 3 "$ART/container-cuda.log" | tr '\n' ' ')"
fi
"$DOCKER" rm -f "$NAME-cuda" >/dev/null 2>&1

finish
