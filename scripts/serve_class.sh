#!/usr/bin/env bash
# Serve a large class: N `streamlit run` replicas behind nginx with sticky sessions.
#   bash scripts/serve_class.sh [REPLICAS=4] [PORT=8080]
# Students open http://<this machine>:PORT. Stop with Ctrl-C (everything is stopped).
# For a port other than loopback, edit `listen` in deploy/nginx.conf.template.
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-4}
port=${2:-8080}
python=${PYTHON:-.venv/bin/python}
prefix=$(mktemp -d)
upstreams=""
pids=()
trap 'kill ${pids[@]} 2>/dev/null; nginx -p "$prefix" -c "$prefix/nginx.conf" -s stop 2>/dev/null; rm -rf "$prefix"' EXIT
for i in $(seq 1 "$replicas"); do
  replica_port=$((8600 + i))
  "$python" -m streamlit run app.py --server.port "$replica_port" --server.address 127.0.0.1 --server.headless true &
  pids+=($!)
  upstreams+="        server 127.0.0.1:${replica_port};"$'\n'
done
sed -e "s|@PORT@|$port|" -e "s|@PREFIX@|$prefix|g" deploy/nginx.conf.template \
  | awk -v ups="$upstreams" '{ if ($0 ~ /@UPSTREAMS@/) printf "%s", ups; else print }' > "$prefix/nginx.conf"
nginx -p "$prefix" -c "$prefix/nginx.conf"
echo "Serving $replicas replicas on http://127.0.0.1:$port (nginx prefix $prefix)"
wait "${pids[@]}"
