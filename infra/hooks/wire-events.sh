#!/bin/sh
# azd postdeploy hook: once the code is deployed, provision again with WIRE_EVENTS=true so
# Event Grid subscriptions, the action group and the alert rules reach the live functions.
# Runs once per environment; later `azd up` runs provision with WIRE_EVENTS=true directly.
set -eu
if [ "${WIRE_EVENTS:-false}" = "true" ]; then
  echo "Events already wired (WIRE_EVENTS=true)."
  exit 0
fi
echo "Functions deployed: wiring Event Grid subscriptions, action group and alert rules..."
azd env set WIRE_EVENTS true
azd provision --no-prompt
