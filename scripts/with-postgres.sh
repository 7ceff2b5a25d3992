#!/usr/bin/env bash
# Runs a command with SIGNET_TEST_DATABASE_URL pointing at a PostgreSQL server.
# When the variable is already set it is used as is. Otherwise a throwaway
# cluster is created (initdb + pg_ctl in a temp dir, on a free port, fsync off)
# and removed when the command ends, whatever its outcome. It never depends on
# a server somebody started by hand.
set -euo pipefail

if [ -n "${SIGNET_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

pgbin=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && pgbin="$d"
done
if [ -z "$pgbin" ]; then
  echo "with-postgres: PostgreSQL server binaries not found; run scripts/install-deps.sh (apt-get install postgresql)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/signet-pg.XXXXXX)
chmod 755 "$tmp"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: run the cluster as the postgres user.
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
  chown postgres "$tmp"
  as_pg=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo $((20000 + RANDOM % 20000)))

cleanup() {
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"${as_pg[@]}" "$pgbin/initdb" -D "$tmp/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
  -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null || { cat "$tmp/server.log" >&2; exit 1; }

export SIGNET_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: throwaway PostgreSQL on port $port" >&2
"$@"
