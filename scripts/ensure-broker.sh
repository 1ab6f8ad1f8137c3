#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers (AMQP handshake) on the port of $AMQP_URI
# (default amqp://guest:guest@127.0.0.1:5672//).
#   listening            -> nothing to do
#   local, stopped       -> start it (rabbitmq-server -detached) and wait for it
#   local, not installed -> as root: apt-get install rabbitmq-server, then start it
#   otherwise            -> print what to run and exit 1
# A remote broker is only checked, never managed.
set -euo pipefail

uri=${AMQP_URI:-amqp://guest:guest@127.0.0.1:5672//}
hostport=${uri#*://}          # drop the scheme
hostport=${hostport%%/*}      # drop the vhost
hostport=${hostport##*@}      # drop user:password@
host=${hostport%:*}
port=${hostport##*:}
[ "$host" = "$hostport" ] && port=5672   # no port given
host=${host:-127.0.0.1}

say() { echo "ensure-broker: $*" >&2; }
# Connect and send the AMQP 0-9-1 protocol header; a broker answers with a method frame (type 1).
listening() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "AMQP\x00\x00\x09\x01" >&3 &&
    IFS= read -r -t 2 -N 1 frame <&3 && [ "$frame" = "$2" ]' "$host" "$port" $'\x01' 2>/dev/null
}
wait_listening() {
  for _ in $(seq 1 60); do listening && return 0; sleep 1; done
  return 1
}

if listening; then
  say "RabbitMQ is listening on $host:$port"
  exit 0
fi

case "$host" in
  127.0.0.1|localhost) ;;
  *) say "no broker answers on $host:$port (AMQP_URI points to a remote broker; start it there)"
     exit 1 ;;
esac

export PATH="$PATH:/usr/sbin:/sbin"
is_root() { [ "$(id -u)" -eq 0 ]; }

if ! command -v rabbitmq-server >/dev/null; then
  if is_root && command -v apt-get >/dev/null; then
    say "RabbitMQ is not installed; installing rabbitmq-server"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server
  else
    say "RabbitMQ is not installed. Run:"
    echo "    sudo apt-get update && sudo apt-get install -y rabbitmq-server" >&2
    echo "    sudo rabbitmq-server -detached && sudo rabbitmqctl await_startup" >&2
    exit 1
  fi
fi

if listening; then   # the package's install script may have started it already
  say "RabbitMQ is listening on $host:$port"
  exit 0
fi

if ! is_root; then
  say "RabbitMQ is installed but not running. Run:"
  echo "    sudo rabbitmq-server -detached && sudo rabbitmqctl await_startup" >&2
  exit 1
fi

if timeout 20 rabbitmqctl -q ping >/dev/null 2>&1; then
  say "the RabbitMQ node runs; making sure its application is started"
  rabbitmqctl -q start_app
else
  say "starting RabbitMQ"
  rabbitmq-server -detached
fi
timeout 120 rabbitmqctl await_startup >/dev/null
if wait_listening; then
  say "RabbitMQ is listening on $host:$port"
else
  say "RabbitMQ runs but does not answer on $host:$port (check AMQP_URI; logs in /var/log/rabbitmq/)"
  exit 1
fi
