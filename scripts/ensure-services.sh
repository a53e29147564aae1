#!/usr/bin/env bash
# Make sure the Redis and PostgreSQL servers the test suite talks to are answering.
#
# With SECGATE_TEST_REDIS_URL / SECGATE_TEST_DATABASE_URL set, those servers are only
# checked: they are someone else's to run. Unset, the suite uses 127.0.0.1:6379 and
# 127.0.0.1:5432; a server that does not answer there is installed from Debian's
# packages when missing and started here (both need root).
#
# Every wait is bounded (SECGATE_SERVICE_WAIT_S, default 30 s): this never hangs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wait_s=${SECGATE_SERVICE_WAIT_S:-30}

say() { echo "ensure-services: $*"; }
die() {
    echo "ensure-services: $*" >&2
    exit 1
}

# "HOST PORT" of a URL. Python 3 is a prerequisite of the project anyway, and its
# parser gets user:password@[v6]:port right where sed would not.
host_port() { # URL DEFAULT_PORT
    python3 - "$1" "$2" 2>/dev/null <<'EOF'
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
print(url.hostname or "127.0.0.1", url.port or sys.argv[2])
EOF
}

# A Redis answers when PING gets +PONG (or -NOAUTH: it is there, and wants a password).
redis_answers() { # HOST PORT
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "PING\r\n" >&3
        IFS= read -r reply <&3
        [[ $reply == "+PONG"* || $reply == "-NOAUTH"* ]]' "$1" "$2" 2>/dev/null
}

postgres_answers() { # HOST PORT
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$1" -p "$2" -t 3
    else
        timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
    fi
}

wait_until() { # SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

start_redis() {
    mkdir -p /var/lib/redis /var/log/redis
    say "starting Redis on 127.0.0.1:6379 (log: /var/log/redis/ci.log)"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_until "$wait_s" redis_answers 127.0.0.1 6379 ||
        die "Redis did not answer within ${wait_s}s; see /var/log/redis/ci.log"
}

start_postgres() {
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ] || [ ! -d "/etc/postgresql/$version/main" ]; then
        version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
        [ -n "$version" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
        say "creating PostgreSQL cluster $version/main"
        pg_createcluster "$version" main
    fi
    say "starting PostgreSQL cluster $version/main"
    # It may already be running on another port or socket only; the wait below decides.
    timeout "$wait_s" pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        say "pg_ctlcluster start reported a failure; waiting for 127.0.0.1:5432 anyway"
    wait_until "$wait_s" postgres_answers 127.0.0.1 5432 ||
        die "PostgreSQL did not answer on 127.0.0.1:5432 within ${wait_s}s;" \
            "see /var/log/postgresql/postgresql-$version-main.log"
}

# The suite's default URL carries the password "postgres"; a server brought up here may
# use password authentication on TCP (Debian's default), so make it match.
set_postgres_password() {
    (cd / && timeout 30 runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'") ||
        die "could not set the password of the postgres role"
}

redis_url=${SECGATE_TEST_REDIS_URL:-}
database_url=${SECGATE_TEST_DATABASE_URL:-}
redis_up=false
postgres_up=false

if [ -n "$redis_url" ]; then
    hp=$(host_port "$redis_url" 6379) || die "SECGATE_TEST_REDIS_URL: cannot read a host and port from it"
    read -r host port <<<"$hp"
    redis_answers "$host" "$port" ||
        die "Redis at $host:$port (SECGATE_TEST_REDIS_URL) does not answer." \
            "Start it, or unset SECGATE_TEST_REDIS_URL to use (and start) 127.0.0.1:6379."
    say "Redis at $host:$port answers"
    redis_up=true
elif redis_answers 127.0.0.1 6379; then
    say "Redis at 127.0.0.1:6379 answers"
    redis_up=true
fi

if [ -n "$database_url" ]; then
    hp=$(host_port "$database_url" 5432) || die "SECGATE_TEST_DATABASE_URL: cannot read a host and port from it"
    read -r host port <<<"$hp"
    postgres_answers "$host" "$port" ||
        die "PostgreSQL at $host:$port (SECGATE_TEST_DATABASE_URL) does not answer." \
            "Start it, or unset SECGATE_TEST_DATABASE_URL to use (and start) 127.0.0.1:5432."
    say "PostgreSQL at $host:$port answers"
    postgres_up=true
elif postgres_answers 127.0.0.1 5432; then
    say "PostgreSQL at 127.0.0.1:5432 answers"
    postgres_up=true
fi

$redis_up && $postgres_up && exit 0

[ "$(id -u)" -eq 0 ] ||
    die "not root, so cannot install or start the missing servers: start Redis on" \
        "127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (user postgres, password postgres)," \
        "or point SECGATE_TEST_REDIS_URL / SECGATE_TEST_DATABASE_URL at running ones."

packages=()
$redis_up || packages+=(redis-server)
$postgres_up || packages+=(postgresql)
# One call, so that `apt-get update` runs at most once.
"$here/apt-install.sh" "${packages[@]}"

# A package's install script may have started its server already.
$redis_up || redis_answers 127.0.0.1 6379 || start_redis
if ! $postgres_up; then
    postgres_answers 127.0.0.1 5432 || start_postgres
    set_postgres_password
fi
say "Redis and PostgreSQL answer"
