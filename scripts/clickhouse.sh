#!/usr/bin/env bash
# A private ClickHouse server for the tests: its own config copy, ports and
# data directory, so it never touches a server already on the machine.
#
#   scripts/clickhouse.sh install      install clickhouse-server and -client from Debian when missing (root)
#   scripts/clickhouse.sh start DIR    start a server in DIR; prints its native address (host:port)
#   scripts/clickhouse.sh stop DIR     stop the server started in DIR
#
# PORT (default 19000) picks the native port; the HTTP port is PORT+1. A port
# in use moves both up until a free pair is found; a restart in the same DIR
# keeps the port it had.
set -euo pipefail

install() {
  if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "clickhouse-server is not installed and this is not root: apt-get install clickhouse-server clickhouse-client" >&2
    exit 1
  fi
  echo "installing clickhouse-server and clickhouse-client from Debian" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >&2
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local dir=$1 port=${PORT:-19000}
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"
  dir=$(cd "$dir" && pwd)
  # A server started again in the same directory keeps its port, so its
  # clients find it again.
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); fi
  while ! port_free "$port" || ! port_free $((port + 1)); do port=$((port + 2)); done
  echo "$port" >"$dir/port"
  cp /etc/clickhouse-server/users.xml "$dir/users.xml"
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$port</tcp_port>
    <http_port>$((port + 1))</http_port>
    <max_connections>256</max_connections>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
  clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/server.pid" >"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/launcher.pid"
  for _ in $(seq 1 150); do
    if clickhouse-client --host 127.0.0.1 --port "$port" --query 'SELECT 1' >/dev/null 2>&1; then
      echo "127.0.0.1:$port" | tee "$dir/addr"
      return
    fi
    if ! kill -0 "$(cat "$dir/launcher.pid")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "clickhouse-server did not start; its log:" >&2
  tail -n 30 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 2>/dev/null || true
  stop "$dir"
  exit 1
}

stop() {
  local dir=$1 pid
  [ -f "$dir/launcher.pid" ] || return 0
  pid=$(cat "$dir/launcher.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/launcher.pid"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?start DIR}" ;;
  stop) stop "${2:?stop DIR}" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
