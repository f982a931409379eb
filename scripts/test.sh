#!/usr/bin/env bash
# scripts/test.sh — run SecureCam Hub's whole test suite.
#
#   scripts/test.sh                      # everything: go test -race -count=1 ./...
#   scripts/test.sh -run TestLoadDefaults -v   # extra arguments go to `go test`
#   scripts/test.sh ./store/...          # a package pattern replaces ./...
#
# Before running the tests it makes sure the services and tools they need are there:
#
#   PostgreSQL  SECURECAM_TEST_POSTGRES_URL if set; else a server answering on
#               127.0.0.1:5432 (user postgres, trust auth); else a throwaway server it
#               starts (initdb + pg_ctl on a free port, as the postgres user when run as
#               root) and stops on exit. initdb and pg_ctl must be there in every case
#               (fault tests start and stop their own cluster).
#   Redis       SECURECAM_TEST_REDIS_URL if set; else a server answering on 127.0.0.1:6379;
#               else a throwaway redis-server on a free port. The redis-server binary must
#               be on PATH in every case (fault tests start their own).
#   S3          SECURECAM_TEST_S3_ENDPOINT (with _ACCESS_KEY_ID, _SECRET_ACCESS_KEY and
#               optionally _REGION: credentials that may create buckets) if set; else a
#               throwaway versitygw (github.com/versity/versitygw, a POSIX-backed S3
#               gateway) on a free port with a temporary directory. versitygw is built
#               once with `go install` into SECURECAM_TEST_TOOLS (default
#               ~/.cache/securecam/tools); it never becomes a dependency of the module.
#   Chromium    for the browser tests.
#   FFmpeg      ffmpeg and ffprobe, for the server-side recording tests (signaling/record):
#               they make VP8 test video and check the WebM files the hub writes.
#   Node.js     for the browser app's unit tests (web/app/jstest, node's test runner),
#               which run before the Go tests when no package pattern is given; with
#               npm, for the Better Auth compatibility tests of cmd/securecam: the
#               pinned packages of cmd/securecam/testdata/betterauth are installed
#               there with npm ci when node_modules is missing or older than the lock
#               file (once per run, quietly).
#   Centrifugo  SECURECAM_TEST_CENTRIFUGO if set; else centrifugo (v6, from its public
#               source) built once with `go install` into SECURECAM_TEST_TOOLS, for the
#               benchmark tool's comparison (`securecam bench cluster --centrifugo PATH`).
#   a C compiler, for -race.
#
# Whatever is missing is installed with apt-get when running as root on Debian or Ubuntu.
# Otherwise the script says what to install; under CI=true anything missing is an error
# before a single test runs. It exports SECURECAM_TEST_POSTGRES_URL,
# SECURECAM_TEST_REDIS_URL and SECURECAM_TEST_S3_* for the tests.
#
# SECURECAM_TEST_THROWAWAY=1 ignores configured and already-running servers and always
# starts throwaway ones (to test this script, or to keep the tests off a shared server).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

in_ci() { [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; }
throwaway_only() { [[ -n "${SECURECAM_TEST_THROWAWAY:-}" && "${SECURECAM_TEST_THROWAWAY}" != "0" ]]; }

problems=()
# missing WHAT HOW: record something the suite needs and cannot get here.
missing() {
	problems+=("$1 — $2")
	log "MISSING: $1 — $2"
}

can_apt() { [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; }

apt_updated=""
# apt_install PACKAGE...: install Debian packages (root only); apt-get update at most once.
apt_install() {
	can_apt || return 1
	log "installing $* with apt-get (output in $scratch/apt.log)"
	# Another apt-get (an unattended upgrade, a second test run) may hold the dpkg lock:
	# wait for it rather than fail.
	local wait_lock=(-o DPkg::Lock::Timeout=600)
	if [[ -z "$apt_updated" ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" update >>"$scratch/apt.log" 2>&1 || {
			tail -n 20 "$scratch/apt.log" >&2
			return 1
		}
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" install -y --no-install-recommends "$@" >>"$scratch/apt.log" 2>&1 || {
		tail -n 20 "$scratch/apt.log" >&2
		return 1
	}
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port on 127.0.0.1 that nothing listens on now (the caller retries if it is
# taken before its server binds it).
free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 12000)) # below Linux's ephemeral range
		if ! port_open "$port"; then
			echo "$port"
			return 0
		fi
	done
	log "no free port found"
	return 1
}

scratch=$(mktemp -d /tmp/securecam-test.XXXXXX)
chmod 755 "$scratch"
cleanup_steps=()
cleanup() {
	local rc=$? step
	for step in ${cleanup_steps[@]+"${cleanup_steps[@]}"}; do
		eval "$step" || true
	done
	rm -rf "$scratch"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- toolchain

if ! command -v go >/dev/null 2>&1; then
	log "Go is not on PATH: install Go $(sed -n 's/^go //p' go.mod) from https://go.dev/dl/"
	exit 1
fi
cc=$(go env CC)
if ! command -v "${cc:-gcc}" >/dev/null 2>&1; then
	apt_install gcc libc6-dev || true
	if ! command -v "${cc:-gcc}" >/dev/null 2>&1; then
		missing "C compiler '${cc:-gcc}' (needed by go test -race)" "apt-get install gcc libc6-dev"
	fi
fi
export CGO_ENABLED=1
# Go fetches modules over HTTPS; minimal Debian images have no CA certificates.
if [[ ! -s /etc/ssl/certs/ca-certificates.crt ]] && can_apt; then
	apt_install ca-certificates || missing "CA certificates (Go downloads modules over HTTPS)" "apt-get install ca-certificates"
fi

# ---------------------------------------------------------------------------- PostgreSQL

pg_default_url="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

# pg_answers URL [PORT]: a server accepts queries at URL. Without psql or pg_isready to
# ask, it is taken on trust, or (given PORT) when 127.0.0.1:PORT accepts connections.
pg_answers() {
	if command -v psql >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=3 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
	elif command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -t 3 -d "$1"
	elif [[ -n "${2:-}" ]]; then
		port_open "$2"
	fi
}

pg_bindir() {
	local d
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	if [[ -n "$d" && -x "$d/initdb" ]]; then
		echo "$d"
	elif command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	fi
}

# start_postgres: initdb + pg_ctl start on a free port; sets pg_url.
start_postgres() {
	local bin dir port attempt
	bin=$(pg_bindir)
	if [[ -z "$bin" ]]; then
		apt_install postgresql || true
		bin=$(pg_bindir)
	fi
	if [[ -z "$bin" ]]; then
		missing "PostgreSQL server binaries (initdb, pg_ctl)" \
			"apt-get install postgresql (Debian/Ubuntu), brew install postgresql (macOS), or set SECURECAM_TEST_POSTGRES_URL"
		return 1
	fi
	# initdb and pg_ctl refuse to run as root: run them as the postgres user then.
	local as=()
	if [[ "$(id -u)" == 0 ]]; then
		if ! id postgres >/dev/null 2>&1; then
			missing "a 'postgres' system user to run a throwaway PostgreSQL as" "apt-get install postgresql"
			return 1
		fi
		as=(runuser -u postgres --)
	fi
	dir="$scratch/postgres"
	mkdir -p "$dir"
	[[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
	log "starting a throwaway PostgreSQL ($bin) in $dir"
	(cd "$dir" && ${as[@]+"${as[@]}"} "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$dir/initdb.log" 2>&1) || {
		cat "$dir/initdb.log" >&2
		missing "a working initdb" "see the initdb output above"
		return 1
	}
	for attempt in 1 2 3; do
		port=$(free_port) || return 1
		if (cd "$dir" && ${as[@]+"${as[@]}"} "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
			start >/dev/null); then
			cleanup_steps+=("(cd '$dir' && ${as[*]-} '$bin/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null 2>&1)")
			pg_url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			return 0
		fi
		log "PostgreSQL did not start on port $port (attempt $attempt):"
		tail -n 5 "$dir/server.log" >&2 || true
	done
	missing "a throwaway PostgreSQL server" "it failed to start; see $dir/server.log above"
	return 1
}

pg_url=""
pg_how=""
if throwaway_only; then
	start_postgres && pg_how="throwaway server"
elif [[ -n "${SECURECAM_TEST_POSTGRES_URL:-}" ]]; then
	pg_url="$SECURECAM_TEST_POSTGRES_URL"
	pg_how="from SECURECAM_TEST_POSTGRES_URL"
	if ! pg_answers "$pg_url"; then
		missing "PostgreSQL at SECURECAM_TEST_POSTGRES_URL ($pg_url)" "it does not answer; start it or unset the variable"
	fi
elif pg_answers "$pg_default_url" 5432; then
	pg_url="$pg_default_url"
	pg_how="already running"
else
	start_postgres && pg_how="throwaway server"
fi
if [[ -n "$pg_url" ]]; then
	export SECURECAM_TEST_POSTGRES_URL="$pg_url"
fi

# The fault tests start (and stop) their own PostgreSQL cluster, so initdb and pg_ctl
# are needed whatever server the other tests use.
if [[ -z "$(pg_bindir)" ]]; then
	apt_install postgresql || true
fi
if [[ -z "$(pg_bindir)" ]]; then
	missing "PostgreSQL server binaries initdb and pg_ctl (the fault tests start their own cluster)" \
		"apt-get install postgresql (Debian/Ubuntu) or brew install postgresql (macOS)"
fi

# ---------------------------------------------------------------------------- Redis

redis_default_url="redis://127.0.0.1:6379"

# redis_pings PORT: a Redis server on 127.0.0.1:PORT answers PING.
redis_pings() {
	local reply
	reply=$(
		exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 3 line <&3 && printf '%s' "$line"
	) || return 1
	[[ "$reply" == "+PONG"* ]]
}

# redis_url_answers URL: PING through redis-cli (handles auth and TLS), else a plain PING.
redis_url_answers() {
	if command -v redis-cli >/dev/null 2>&1; then
		[[ "$(redis-cli -u "$1" ping 2>/dev/null)" == "PONG" ]]
	else
		local hostport=${1#*://}
		hostport=${hostport##*@}
		hostport=${hostport%%/*}
		[[ "$hostport" == 127.0.0.1:* || "$hostport" == localhost:* ]] && redis_pings "${hostport##*:}"
	fi
}

# The fault tests start their own redis-server, so it is needed whatever Redis is used.
if ! command -v redis-server >/dev/null 2>&1; then
	apt_install redis-server || true
fi
if ! command -v redis-server >/dev/null 2>&1; then
	missing "redis-server on PATH (the hub's fault tests start their own)" \
		"apt-get install redis-server (Debian/Ubuntu) or brew install redis (macOS)"
fi

start_redis() {
	command -v redis-server >/dev/null 2>&1 || return 1
	local dir="$scratch/redis" port attempt
	mkdir -p "$dir"
	for attempt in 1 2 3; do
		port=$(free_port) || return 1
		log "starting a throwaway redis-server on port $port"
		if redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
			--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null; then
			for _ in $(seq 1 100); do
				if redis_pings "$port"; then
					cleanup_steps+=("kill \$(cat '$dir/redis.pid') 2>/dev/null")
					redis_url="redis://127.0.0.1:$port"
					return 0
				fi
				[[ -s "$dir/redis.pid" ]] && ! kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null && break
				sleep 0.1
			done
			if [[ -s "$dir/redis.pid" ]]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
		fi
		log "redis-server did not start on port $port (attempt $attempt):"
		tail -n 5 "$dir/redis.log" >&2 || true
	done
	missing "a throwaway Redis server" "it failed to start; see $dir/redis.log above"
	return 1
}

redis_url=""
redis_how=""
if throwaway_only; then
	start_redis && redis_how="throwaway server"
elif [[ -n "${SECURECAM_TEST_REDIS_URL:-}" ]]; then
	redis_url="$SECURECAM_TEST_REDIS_URL"
	redis_how="from SECURECAM_TEST_REDIS_URL"
	if ! redis_url_answers "$redis_url"; then
		missing "Redis at SECURECAM_TEST_REDIS_URL ($redis_url)" "it does not answer; start it or unset the variable"
	fi
elif redis_pings 6379; then
	redis_url="$redis_default_url"
	redis_how="already running"
else
	start_redis && redis_how="throwaway server"
fi
if [[ -n "$redis_url" ]]; then
	export SECURECAM_TEST_REDIS_URL="$redis_url"
fi

# ---------------------------------------------------------------------------- S3

versitygw_version=v1.8.0
tools_dir="${SECURECAM_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/securecam/tools}"

# go_tool NAME PACKAGE VERSION: the path of a tool built once per version with
# `go install PACKAGE@VERSION` into the tools directory (outside this module: nothing
# enters go.mod).
go_tool() {
	local name=$1 pkg=$2 version=$3
	local bin="$tools_dir/$name-$version/$name"
	if [[ ! -x "$bin" ]]; then
		log "building $name $version into $(dirname "$bin") (once; a few minutes)"
		mkdir -p "$(dirname "$bin")"
		if ! (cd "$scratch" && GOBIN="$(dirname "$bin")" GOFLAGS=-mod=mod go install \
			"$pkg@$version" >"$scratch/$name-build.log" 2>&1); then
			tail -n 20 "$scratch/$name-build.log" >&2
			return 1
		fi
	fi
	echo "$bin"
}

versitygw_binary() { go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$versitygw_version"; }

# start_s3: a throwaway versitygw on a free port; sets s3_endpoint and the credentials.
start_s3() {
	local bin dir="$scratch/s3" port attempt pid
	bin=$(versitygw_binary) || {
		missing "versitygw (the S3 server of the recordings tests)" \
			"go install github.com/versity/versitygw/cmd/versitygw@$versitygw_version failed (see above), or set SECURECAM_TEST_S3_ENDPOINT"
		return 1
	}
	mkdir -p "$dir/data"
	s3_access_key=securecam-test
	s3_secret_key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	for attempt in 1 2 3; do
		port=$(free_port) || return 1
		log "starting a throwaway versitygw on port $port"
		ROOT_ACCESS_KEY_ID="$s3_access_key" ROOT_SECRET_ACCESS_KEY="$s3_secret_key" \
			"$bin" --port "127.0.0.1:$port" --quiet posix "$dir/data" >"$dir/versitygw.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do
			if port_open "$port"; then
				cleanup_steps+=("kill $pid 2>/dev/null")
				s3_endpoint="http://127.0.0.1:$port"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		log "versitygw did not start on port $port (attempt $attempt):"
		tail -n 5 "$dir/versitygw.log" >&2 || true
	done
	missing "a throwaway versitygw" "it failed to start; see $dir/versitygw.log above"
	return 1
}

# s3_answers URL: something accepts connections at the host and port of URL.
s3_answers() {
	local hostport=${1#*://} port
	hostport=${hostport%%/*}
	port=${hostport##*:}
	[[ "$port" == "$hostport" ]] && { [[ "$1" == https* ]] && port=443 || port=80; }
	(exec 3<>"/dev/tcp/${hostport%:*}/$port") 2>/dev/null
}

s3_endpoint=""

s3_how=""
if [[ -n "${SECURECAM_TEST_S3_ENDPOINT:-}" ]] && ! throwaway_only; then
	s3_endpoint="$SECURECAM_TEST_S3_ENDPOINT"
	s3_how="from SECURECAM_TEST_S3_ENDPOINT"
	if [[ -z "${SECURECAM_TEST_S3_ACCESS_KEY_ID:-}" || -z "${SECURECAM_TEST_S3_SECRET_ACCESS_KEY:-}" ]]; then
		missing "credentials for the S3 service at SECURECAM_TEST_S3_ENDPOINT" \
			"set SECURECAM_TEST_S3_ACCESS_KEY_ID and SECURECAM_TEST_S3_SECRET_ACCESS_KEY (allowed to create buckets)"
	elif ! s3_answers "$s3_endpoint"; then
		missing "S3 at SECURECAM_TEST_S3_ENDPOINT ($s3_endpoint)" "it does not answer; start it or unset the variable"
	fi
elif start_s3; then
	s3_how="throwaway versitygw $versitygw_version"
	export SECURECAM_TEST_S3_ENDPOINT="$s3_endpoint" SECURECAM_TEST_S3_REGION=us-east-1 \
		SECURECAM_TEST_S3_ACCESS_KEY_ID="$s3_access_key" SECURECAM_TEST_S3_SECRET_ACCESS_KEY="$s3_secret_key"
fi

# ---------------------------------------------------------------------------- Chromium

find_chromium() {
	local name
	for name in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
	done
	return 1
}
chromium=$(find_chromium) || {
	apt_install chromium || true
	chromium=$(find_chromium) || {
		chromium=""
		missing "Chromium (for the browser tests)" \
			"apt-get install chromium (Debian), apt-get install chromium-browser (Ubuntu), or install Google Chrome"
	}
}

# ---------------------------------------------------------------------------- FFmpeg

if ! command -v ffprobe >/dev/null 2>&1 || ! command -v ffmpeg >/dev/null 2>&1; then
	apt_install ffmpeg || true
fi
ffprobe_bin=$(command -v ffprobe || true)
if [[ -z "$ffprobe_bin" ]] || ! command -v ffmpeg >/dev/null 2>&1; then
	ffprobe_bin=""
	missing "FFmpeg (ffmpeg and ffprobe, for the recording tests)" \
		"apt-get install ffmpeg (Debian/Ubuntu), brew install ffmpeg (macOS)"
fi

# ---------------------------------------------------------------------------- Node.js

if ! command -v node >/dev/null 2>&1; then
	apt_install nodejs || true
fi
node_bin=$(command -v node || true)
if [[ -z "$node_bin" ]]; then
	missing "Node.js (node, for the browser app's unit tests in web/app/jstest)" \
		"apt-get install nodejs (Debian/Ubuntu), brew install node (macOS), or install Node 20 from https://nodejs.org"
elif (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
	missing "Node.js 20 or later (found $(node --version); Better Auth's dependencies need 20)" \
		"install Node 20 from https://nodejs.org or your distribution's backports"
fi
if ! command -v npm >/dev/null 2>&1; then
	apt_install npm || true
fi
npm_bin=$(command -v npm || true)
if [[ -z "$npm_bin" ]]; then
	missing "npm (installs the pinned Better Auth the compatibility tests run)" \
		"apt-get install npm (Debian/Ubuntu); it comes with Node.js from https://nodejs.org"
fi

# The Better Auth tests' packages: npm ci when node_modules is missing or was installed
# from another lock file (the stamp records the lock file's checksum).
ba_dir=cmd/securecam/testdata/betterauth
ba_stamp="$ba_dir/node_modules/.securecam-lock.sha256"
if [[ -n "$node_bin" && -n "$npm_bin" ]]; then
	ba_sum=$(sha256sum "$ba_dir/package-lock.json" | cut -d' ' -f1)
	if [[ ! -s "$ba_stamp" || "$(cat "$ba_stamp")" != "$ba_sum" ]]; then
		log "installing the pinned Better Auth test packages (npm ci in $ba_dir; output in $scratch/npm.log)"
		if (cd "$ba_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >>"$scratch/npm.log" 2>&1; then
			echo "$ba_sum" >"$ba_stamp"
		else
			tail -n 20 "$scratch/npm.log" >&2
			missing "the Better Auth test packages ($ba_dir)" "npm ci failed; see its output above"
		fi
	fi
fi

# ---------------------------------------------------------------------------- Centrifugo

# The benchmark tool measures the cluster beside Centrifugo (`securecam bench cluster
# --centrifugo PATH`); its test needs the binary, built from the public source once.
centrifugo_version=v6.9.1
if [[ -z "${SECURECAM_TEST_CENTRIFUGO:-}" ]]; then
	if centrifugo_bin=$(go_tool centrifugo github.com/centrifugal/centrifugo/v6 "$centrifugo_version"); then
		export SECURECAM_TEST_CENTRIFUGO="$centrifugo_bin"
	else
		missing "centrifugo $centrifugo_version (the benchmark's comparison)" \
			"go install github.com/centrifugal/centrifugo/v6@$centrifugo_version failed (see above), or set SECURECAM_TEST_CENTRIFUGO"
	fi
fi

# ---------------------------------------------------------------------------- run

log "go:         $(go version)"
log "postgres:   ${SECURECAM_TEST_POSTGRES_URL:-none} ${pg_how:+($pg_how)}"
log "redis:      ${SECURECAM_TEST_REDIS_URL:-none} ${redis_how:+($redis_how)}"
log "redis-server: $(command -v redis-server || echo none)"
log "pg_ctl:     $(pg_bindir || true)"
log "s3:         ${s3_endpoint:-none} ${s3_how:+($s3_how)}"
log "chromium:   ${chromium:-none}"
log "ffprobe:    ${ffprobe_bin:-none}"
log "centrifugo: ${SECURECAM_TEST_CENTRIFUGO:-none}"
log "node:       ${node_bin:-none}${node_bin:+ ($(node --version))}"
log "npm:        ${npm_bin:-none}${npm_bin:+ ($(npm --version))}"

if ((${#problems[@]} > 0)); then
	if in_ci; then
		log "CI=true and the suite cannot have everything it needs:"
		printf '  - %s\n' "${problems[@]}" >&2
		exit 1
	fi
	log "continuing without them: the tests that need them will fail and say so"
fi

# A package pattern among the arguments replaces ./... (and leaves out the JavaScript tests).
packages=(./...)
for arg in "$@"; do
	case "$arg" in
	. | ./* | ../* | github.com/securecam/securecam*) packages=() ;;
	esac
done

js_status=0
if ((${#packages[@]} > 0)); then
	if [[ -n "$node_bin" ]]; then
		log "running: node --test jstest/*.test.js (in web/app)"
		(cd web/app && node --test jstest/*.test.js) || js_status=$?
	else
		log "FAILED: the JavaScript unit tests (web/app/jstest) cannot run without node"
		js_status=1
	fi
fi

# The tests of cmd/securecam and its internal packages run the real binary as child
# processes: build it once here for all of them (SECURECAM_TEST_BINARY) instead of once
# per test process, which on a loaded machine costs minutes and ate one test's deadline.
build_binary=""
((${#packages[@]} > 0)) && build_binary=1
for arg in "$@"; do
	[[ "$arg" == *cmd/securecam* ]] && build_binary=1
done
if [[ -n "$build_binary" && -z "${SECURECAM_TEST_BINARY:-}" ]]; then
	log "building: go build -o $scratch/securecam ./cmd/securecam (the child processes' binary)"
	go build -o "$scratch/securecam" ./cmd/securecam
	export SECURECAM_TEST_BINARY="$scratch/securecam"
fi

cmd=(go test -race -count=1 ${packages[@]+"${packages[@]}"} "$@")
log "running: ${cmd[*]}"
go_status=0
"${cmd[@]}" || go_status=$?

if ((js_status != 0)); then
	log "FAILED: the JavaScript unit tests (web/app/jstest), exit status $js_status"
fi
if ((go_status != 0)); then
	exit "$go_status"
fi
exit "$js_status"
