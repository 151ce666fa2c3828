# azd postdown hook (Windows): see reset-wiring.sh.
$ErrorActionPreference = 'Stop'
Write-Host 'App removed: WIRE_EVENTS=false, so the next azd up wires events after the code is deployed.'
azd env set WIRE_EVENTS false
exit $LASTEXITCODE
