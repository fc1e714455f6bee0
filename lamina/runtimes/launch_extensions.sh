#!/bin/bash
# Lamina's environment entry when a function has external extensions or an exec wrapper.
#
# Started as `launch_extensions.sh <runtime command...>`. Starts every external extension
# named in LAMINA_EXTENSIONS (space-separated paths), waits until all of them registered
# with the Extensions API (asking Lamina on the Runtime API endpoint), then starts the
# runtime — through AWS_LAMBDA_EXEC_WRAPPER when set, as Lambda does. An extension that
# exits before every one registered fails INIT with Extension.Crash. With extensions the
# launcher stays, as the environment's first process: it tells Lamina when an extension
# exits (so SHUTDOWN's grace ends when they are gone), passes SIGTERM on to the runtime
# and exits with the runtime's status (in SHUTDOWN, once the extensions are gone too).
# With only a wrapper it execs it.
#
# With extensions, Lamina passes a pipe of its own as fd 3: the extensions' stdout and
# stderr go there, straight to Lamina, which reads it outside the environment. (No relay
# in the environment: a frozen one would hold back what an extension wrote before its
# `next`, and Lamina tells the extensions' lines from the runtime's by their pipe.)
api=$AWS_LAMBDA_RUNTIME_API
host=${api%:*}
port=${api##*:}

# One HTTP/1.1 request on the Runtime API endpoint; succeeds on a 2xx answer.
request() {
  local method=$1 path=$2 body=${3:-} extra=${4:-} status
  exec 3<>"/dev/tcp/$host/$port" || return 1
  printf '%s %s HTTP/1.1\r\nHost: runtime\r\nConnection: close\r\nContent-Length: %d\r\n%s\r\n%s' \
    "$method" "$path" "${#body}" "$extra" "$body" >&3
  read -r _ status _ <&3
  cat <&3 >/dev/null
  exec 3<&-
  [[ $status == 2* ]]
}

count=0
declare -A names # extension pid -> name
if [[ -n ${LAMINA_EXTENSIONS:-} ]]; then
  exec 9>&3 3>&- # the extensions' pipe; request() uses fd 3
fi
for ext in ${LAMINA_EXTENSIONS:-}; do
  "$ext" >&9 2>&9 9>&- &
  names[$!]=${ext##*/}
  count=$((count + 1))
done
exec 9>&- # the runtime writes to its own stdout
unset LAMINA_EXTENSIONS

if ((count > 0)); then
  until request GET "/lamina/extensions/ready?count=$count"; do
    if (($(jobs -rp | wc -l) < count)); then
      # One exited before every one registered: say which, with its status (Lamina fails
      # INIT with Extension.Crash, or Extension.ExitError after its /exit/error).
      for pid in "${!names[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
          wait "$pid"
          status=$?
          echo "EXTENSION	Name: ${names[$pid]}	State: Crashed	exit status $status" >&2
          request POST "/lamina/extensions/exited?name=${names[$pid]}&status=$status"
          exit 1
        fi
      done
    fi
    sleep 0.005
  done
fi

if [[ -n ${AWS_LAMBDA_EXEC_WRAPPER:-} ]]; then
  set -- "$AWS_LAMBDA_EXEC_WRAPPER" "$@"
fi
((count > 0)) || exec "$@"
"$@" &
runtime=$!
# SHUTDOWN's SIGTERM is for the runtime: pass it on and keep waiting for its exit.
shutting=""
runtime_status=""
trap 'term=1; shutting=1; kill -TERM "$runtime" 2>/dev/null' TERM
while :; do
  done_pid=""
  term=""
  wait -n -p done_pid
  status=$?
  if [[ -z $done_pid && -n $term ]]; then
    continue
  fi
  if [[ -z $done_pid ]]; then
    exit "${runtime_status:-$status}" # nothing left to wait for
  fi
  if [[ $done_pid == "$runtime" ]]; then
    # The runtime's exit ends the environment, except in SHUTDOWN: there the extensions
    # keep the rest of their grace (Lamina kills what is left at its end). Say so.
    [[ -n $shutting ]] || exit "$status"
    runtime_status=$status
    request POST "/lamina/extensions/exited?runtime=$status"
    continue
  fi
  request POST "/lamina/extensions/exited?name=${names[$done_pid]:-unknown}&status=$status"
done
