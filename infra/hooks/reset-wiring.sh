#!/bin/sh
# azd postdown hook: the functions are gone with the app's resource group, so the next
# first provision must not wire Event Grid subscriptions or the action group to them
# (Event Grid validates an Azure Function destination). Reset WIRE_EVENTS; the next
# `azd up` provisions without wiring, deploys the code, and wire-events.sh wires again.
set -eu
echo "App removed: WIRE_EVENTS=false, so the next azd up wires events after the code is deployed."
azd env set WIRE_EVENTS false
