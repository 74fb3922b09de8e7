#!/usr/bin/env bash
# Serve a large class: N `streamlit run` replicas behind nginx with sticky sessions.
#   bash scripts/serve_class.sh [REPLICAS=2] [PORT=8080]   (one replica per CPU core)
# Students open http://<this machine>:PORT. Stop with Ctrl-C (everything is stopped).
# For a port other than loopback, edit `listen` in deploy/nginx.conf.template.
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-$(nproc)}
port=${2:-8080}
python=${PYTHON:-.venv/bin/python}
prefix=$(mktemp -d)
ports=()
pids=()
trap 'kill ${pids[@]} 2>/dev/null; nginx -p "$prefix" -c "$prefix/nginx.conf" -s stop 2>/dev/null; rm -rf "$prefix"' EXIT
for i in $(seq 1 "$replicas"); do
  replica_port=$((8600 + i))
  "$python" -m streamlit run app.py --server.port "$replica_port" --server.address 127.0.0.1 --server.headless true &
  pids+=($!)
  ports+=("$replica_port")
done
# Fill deploy/nginx.conf.template (the same code the scale-out test uses).
"$python" -c "import sys; from pathlib import Path; from bench.appserver import render_nginx_config; \
render_nginx_config(Path(sys.argv[1]), int(sys.argv[2]), [int(p) for p in sys.argv[3:]])" "$prefix" "$port" "${ports[@]}"
nginx -p "$prefix" -c "$prefix/nginx.conf"
# Warm every replica (imports, first runs) so that the first students do not wait for them.
urls=()
for i in $(seq 1 "$replicas"); do
  url="http://127.0.0.1:$((8600 + i))"
  "$python" -c "from bench.appserver import wait_healthy; wait_healthy('$url')"
  urls+=("$url")
done
"$python" -m bench.load --warm-only "${urls[@]}" || echo "warm-up failed (the class can still start)"
echo "Serving $replicas replicas on http://127.0.0.1:$port (nginx prefix $prefix)"
wait "${pids[@]}"
