#!/usr/bin/env bash
# Starts, on loopback only and on free ports, what Hoist's tests and a local setup need:
# Redis, podman's Docker Engine API service, an OCI registry and an sshd serving git.
# Installs the Debian packages first when they are missing (needs root, or sudo).
#
#   W=.services bash scripts/services-up.sh      # W: state dir (default .services)
#   SERVICES="redis"                             # optional subset: redis podman registry sshd caddy chromium
#                                                # (chromium is only installed, for the dashboard's browser tests)
#   INSTALL=no                                   # never run apt-get: a missing package is an error
#                                                # (`pnpm start` uses this; it says what to install itself)
#   REGISTRY_PORT=5001                           # the registry's port (default: a free one)
#
# Prints the environment to use (also written to $W/env, sourceable). The variables are the ones
# the services read: HOIST_REGISTRY (+ HOIST_REGISTRY_INSECURE) for the builder, DOCKER_HOST and
# CONTAINERS_* for everything that talks to podman; HOIST_TEST_REGISTRY repeats the registry for
# the tests that read it.
#
# REDIS_URL: sourcing $W/env never replaces a REDIS_URL your shell already has (that Redis holds
# your Hoist's apps and builds; switching it silently makes them "disappear"). The Redis started
# here is always in HOIST_SERVICES_REDIS_URL; to use it anyway: export REDIS_URL=$HOIST_SERVICES_REDIS_URL.
# The printed lines show the values in effect for this shell's environment.
set -euo pipefail
W=$(realpath -m "${W:-.services}")
SERVICES=${SERVICES:-"redis podman registry sshd caddy chromium"}
want() { case " $SERVICES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
mkdir -p "$W"
log() { printf '[services-up] %s\n' "$*" >&2; }

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  log "$what did not come up; see the logs in $W"; return 1
}

# ---- packages ----
missing=()
want redis && ! command -v redis-server >/dev/null && missing+=(redis-server)
# The failover tests and bench:failover run three real Sentinels (test/support/redis-sentinel.ts).
want redis && ! command -v redis-sentinel >/dev/null && missing+=(redis-sentinel)
# The cluster tests (pnpm test:cluster, test/support/redis-cluster.ts) make a cluster with redis-cli --cluster create.
want redis && ! command -v redis-cli >/dev/null && missing+=(redis-tools)
want podman && { command -v podman >/dev/null || missing+=(podman); command -v runc >/dev/null || missing+=(runc); }
want registry && ! command -v docker-registry >/dev/null && missing+=(docker-registry apache2-utils)
want registry && ! command -v openssl >/dev/null && missing+=(openssl)
want sshd && ! [ -x /usr/sbin/sshd ] && missing+=(openssh-server)
# busybox is for the tests' base images; `pnpm start` (INSTALL=no) runs podman without it
want podman && [ "${INSTALL:-yes}" != no ] && ! [ -x /bin/busybox ] && missing+=(busybox-static)
command -v curl >/dev/null || missing+=(curl)
want chromium && ! [ -x /usr/bin/chromium ] && missing+=(chromium)
want caddy && ! command -v caddy >/dev/null && missing+=(caddy)
if [ ${#missing[@]} -gt 0 ] && [ "${INSTALL:-yes}" = no ]; then
  log "missing: ${missing[*]} (install: sudo apt-get install -y ${missing[*]})"; exit 1
elif [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >"$W/apt.log" 2>&1
  $SUDO apt-get install -y -qq "${missing[@]}" >>"$W/apt.log" 2>&1 || { log "apt-get install failed, see $W/apt.log"; exit 1; }
fi

ENV_FILE="$W/env"; : >"$ENV_FILE"; PRINTED=""
emit() { echo "export $1=\"$2\"" >>"$ENV_FILE"; PRINTED+="export $1=\"$2\""$'\n'; }
# For variables a user may already have: the file keeps theirs when sourced; the printout shows the one in effect.
emit_unless_set() {
  echo "export $1=\"\${$1:-$2}\"" >>"$ENV_FILE"
  local current=${!1:-}
  PRINTED+="export $1=\"${current:-$2}\""$'\n'
  [ -z "$current" ] || [ "$current" = "$2" ] || log "$1 is already set ($(printf %s "$current" | sed -E "s#//[^@/]*@#//***@#")): kept when sourcing $ENV_FILE; the one started here is in HOIST_SERVICES_$1"
}
emit HOIST_SERVICES_DIR "$W"
# Tests reach their GitLab, Slack and webhook stand-ins on 127.0.0.1 only: the one address services may call.
emit HOIST_OUTBOUND_ALLOW 127.0.0.1

# ---- Redis: AOF everysec, noeviction, as production runs it; ACL users as production has them ----
# One user per service (scripts/redis-acl.mjs) over every prefix (`*`: each test has its own), and
# the default user with an admin password: REDIS_URL here is the admin's, for the tests themselves;
# test/support/processes.ts runs each service as its own user (HOIST_REDIS_PASSWORD_<SERVICE>).
if want redis; then
  REDIS_PORT=$(free_port); mkdir -p "$W/redis"
  if ! [ -f "$(dirname "$0")/../packages/shared/dist/redis/acl.js" ]; then
    log "building @hoist/shared for the Redis ACL file"; (cd "$(dirname "$0")/.." && pnpm --filter @hoist/shared build >"$W/shared-build.log" 2>&1)
  fi
  node "$(dirname "$0")/redis-acl.mjs" "$W/redis/users.acl" '*' >/dev/null
  # shellcheck disable=SC1091
  source "$W/redis/users.acl.env"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$W/redis" --save "" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --aclfile "$W/redis/users.acl" \
    --daemonize yes --pidfile "$W/redis.pid" --logfile "$W/redis.log"
  wait_for redis env REDISCLI_AUTH="$HOIST_REDIS_PASSWORD_ADMIN" redis-cli -p "$REDIS_PORT" ping
  ADMIN_URL="redis://default:$HOIST_REDIS_PASSWORD_ADMIN@127.0.0.1:$REDIS_PORT"
  emit HOIST_SERVICES_REDIS_URL "$ADMIN_URL"
  emit_unless_set REDIS_URL "$ADMIN_URL"
  emit REDIS_PORT "$REDIS_PORT"
  for who in ADMIN API BUILDER DEPLOYER NOTIFIER; do
    var="HOIST_REDIS_PASSWORD_$who"; emit "$var" "${!var}"
  done
fi

# ---- podman as the Docker Engine API ----
if want podman; then
  cat >"$W/containers.conf" <<CONF
[containers]
# podman's defaults (nofile 1048576) exceed what an unprivileged VM lets it set
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
# crun refuses hybrid cgroup layouts; runc works
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  cat >"$W/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$W/containers/storage"
runroot = "$W/containers/run"
CONF
fi
if want registry || want podman; then
  REGISTRY_PORT=${REGISTRY_PORT:-$(free_port)}
  cat >"$W/registries.conf" <<CONF
unqualified-search-registries = []
short-name-mode = "permissive"
[[registry]]
location = "localhost:$REGISTRY_PORT"
insecure = true
[[registry]]
location = "127.0.0.1:$REGISTRY_PORT"
insecure = true
CONF
fi
if want podman; then
  export CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf" CONTAINERS_REGISTRIES_CONF="$W/registries.conf"
  # Kept up as systemd's podman.socket would: Debian's podman 4.3.1 API service can panic under
  # concurrent builds (buildah's executor: "index out of range"), which took the whole suite's
  # engine away mid-run once. A crash is logged and the service started again on the same socket.
  nohup sh -c '
    sock=$1; child=
    trap "[ -n \"\$child\" ] && kill \$child 2>/dev/null; exit 0" TERM INT
    while :; do
      rm -f "$sock"
      podman system service --time=0 "unix://$sock" & child=$!
      wait $child; code=$?
      echo "podman system service exited ($code); starting it again" >&2
      sleep 0.5
    done' sh "$W/podman.sock" >"$W/podman.log" 2>&1 &
  echo $! >"$W/podman.pid"
  wait_for podman curl -sf --unix-socket "$W/podman.sock" http://d/_ping
  emit DOCKER_HOST "unix://$W/podman.sock"
  emit CONTAINERS_CONF "$CONTAINERS_CONF"; emit CONTAINERS_STORAGE_CONF "$CONTAINERS_STORAGE_CONF"
  emit CONTAINERS_REGISTRIES_CONF "$CONTAINERS_REGISTRIES_CONF"
fi

# ---- OCI registry with token auth, and Hoist's token service (services/api/src/registry-token) ----
# Each app's builds get a token for their own repository (and pull on HOIST_REGISTRY_BASE_REPOS);
# the deployer pulls everything. The secret and the signing key stay in $W/registry-auth (0700).
if want registry; then
  mkdir -p "$W/registry" "$W/registry-auth"; chmod 700 "$W/registry-auth"
  A="$W/registry-auth"
  [ -s "$A/secret" ] || (umask 077; openssl rand -hex 32 >"$A/secret")
  if ! [ -s "$A/signing.key" ] || ! [ -s "$A/signing.crt" ]; then
    (umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$A/signing.key.sec1" 2>/dev/null \
      && openssl pkcs8 -topk8 -nocrypt -in "$A/signing.key.sec1" -out "$A/signing.key" && rm -f "$A/signing.key.sec1")
    openssl req -new -x509 -key "$A/signing.key" -out "$A/signing.crt" -days 3650 -subj "/CN=hoist registry token signer" 2>/dev/null
  fi
  TOKEN_PORT=${REGISTRY_TOKEN_PORT:-$(free_port)}
  BASE_REPOS=${HOIST_REGISTRY_BASE_REPOS:-base/*}
  ROOT=$(cd "$(dirname "$0")/.." && pwd)
  # The built entry (pnpm start and pnpm test build first); from source with tsx before a first build.
  if [ -f "$ROOT/services/api/dist/registry-token/main.js" ]; then TOKEN_CMD=(node "$ROOT/services/api/dist/registry-token/main.js")
  else TOKEN_CMD=("$ROOT/node_modules/.bin/tsx" --conditions=source "$ROOT/services/api/src/registry-token/main.ts"); fi
  HOIST_REGISTRY_SECRET_FILE="$A/secret" HOIST_REGISTRY_SIGNING_KEY_FILE="$A/signing.key" HOIST_REGISTRY_SIGNING_CERT_FILE="$A/signing.crt" \
    HOIST_REGISTRY_TOKEN_PORT="$TOKEN_PORT" HOIST_REGISTRY_TOKEN_HOST=127.0.0.1 HOIST_REGISTRY="127.0.0.1:$REGISTRY_PORT" \
    HOIST_REGISTRY_BASE_REPOS="$BASE_REPOS" HOIST_LOG_LEVEL=warn \
    nohup "${TOKEN_CMD[@]}" >"$W/registry-token.log" 2>&1 &
  echo $! >"$W/registry-token.pid"
  wait_for "registry token service" curl -sf "http://127.0.0.1:$TOKEN_PORT/healthz"
  cat >"$W/registry.yml" <<CONF
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $W/registry }, delete: { enabled: true } }
http: { addr: "127.0.0.1:$REGISTRY_PORT", secret: local-test-secret }
auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/registry/token
    service: hoist-registry
    issuer: hoist
    rootcertbundle: $A/signing.crt
CONF
  nohup docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
  echo $! >"$W/registry.pid"
  # 401 with a Bearer challenge: up, and asking for tokens.
  wait_for registry sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$REGISTRY_PORT/v2/ | grep -q 401"
  emit HOIST_REGISTRY "127.0.0.1:$REGISTRY_PORT"
  emit HOIST_REGISTRY_INSECURE true
  emit HOIST_REGISTRY_SECRET_FILE "$A/secret"
  emit HOIST_REGISTRY_TOKEN_REALM "http://127.0.0.1:$TOKEN_PORT/registry/token"
  emit HOIST_REGISTRY_BASE_REPOS "$BASE_REPOS"
  emit HOIST_TEST_REGISTRY "127.0.0.1:$REGISTRY_PORT"
fi

# ---- sshd on loopback serving git to deploy keys ----
# Tests let a key in with authorizeKey (test/support/git/repos.ts): its authorized_keys line runs
# test/support/git/git-access.sh, which, as GitLab does, lets it fetch only the repositories
# listed in its file under $W/ssh/grants, and push only where it may.
if want sshd; then
  SSH_PORT=$(free_port)
  mkdir -p "$W/ssh/grants" /run/sshd 2>/dev/null || true; chmod 755 /run/sshd 2>/dev/null || true
  [ -f "$W/ssh/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host_ed25519"
  touch "$W/ssh/authorized_keys"
  cat >"$W/ssh/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $W/ssh/host_ed25519
PidFile $W/ssh/sshd.pid
AuthorizedKeysFile $W/ssh/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
DisableForwarding yes
PermitUserEnvironment no
AcceptEnv GIT_PROTOCOL
# sshd runs each key's command through the user's shell; bash, started by sshd at shell level 1,
# reads ~/.bashrc first (seconds on a machine whose .bashrc runs pyenv and the like): SHLVL=1
# makes it level 2, which skips it.
SetEnv SHLVL=1
CONF
  /usr/sbin/sshd -f "$W/ssh/sshd_config" -E "$W/ssh/sshd.log"
  wait_for sshd test -s "$W/ssh/sshd.pid"
  emit HOIST_TEST_SSH_PORT "$SSH_PORT"
  emit HOIST_TEST_SSH_AUTHORIZED_KEYS "$W/ssh/authorized_keys"
  emit HOIST_TEST_SSH_HOST_KEY "$W/ssh/host_ed25519.pub"
fi

# ---- Caddy: the local target's edge, driven through its admin API on a loopback port ----
# Empty config, no --resume (the deployer's reconcile fills it from the records), never touching
# this machine's trust store (install_trust false). The deployer starts its own Caddy when
# HOIST_CADDY_ADMIN_URL is unset; this one is shared by every deployer and test using this env.
if want caddy; then
  CADDY_ADMIN_PORT=$(free_port); mkdir -p "$W/caddy"
  cat >"$W/caddy/caddy.json" <<CONF
{"admin":{"listen":"127.0.0.1:$CADDY_ADMIN_PORT","config":{"persist":false}},
 "storage":{"module":"file_system","root":"$W/caddy/data"},
 "logging":{"logs":{"default":{"level":"WARN","writer":{"output":"file","filename":"$W/caddy/caddy.log"}}}},
 "apps":{"pki":{"certificate_authorities":{"local":{"install_trust":false}}}}}
CONF
  HOME="$W/caddy" XDG_DATA_HOME="$W/caddy/xdg" XDG_CONFIG_HOME="$W/caddy/xdg" \
    nohup caddy run --config "$W/caddy/caddy.json" --pidfile "$W/caddy.pid" >"$W/caddy/stdout.log" 2>&1 &
  wait_for caddy curl -sf "http://127.0.0.1:$CADDY_ADMIN_PORT/config/"
  emit HOIST_CADDY_ADMIN_URL "http://127.0.0.1:$CADDY_ADMIN_PORT"
fi

printf '%s' "$PRINTED"
