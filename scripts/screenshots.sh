#!/usr/bin/env bash
# Regenerate the README's screenshots: run the browser smoke test and the lecturer
# journeys (headless Chromium), then copy one 1920x1080 (projection mode) and one
# 1280x720 screenshot per page into docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
"$python" -m pytest -q tests/test_browser.py tests/test_journeys.py -p no:cacheprovider
mkdir -p docs/screenshots
cp artifacts/screenshots/app.png docs/screenshots/home_1920.png
for shot in artifacts/screenshots/*_1920.png artifacts/screenshots/*_1280.png; do
  cp "$shot" docs/screenshots/
done
ls -1 docs/screenshots
