# azd postdeploy hook (Windows): see wire-events.sh.
$ErrorActionPreference = 'Stop'
if ($env:WIRE_EVENTS -eq 'true') {
  Write-Host 'Events already wired (WIRE_EVENTS=true).'
  exit 0
}
Write-Host 'Functions deployed: wiring Event Grid subscriptions, action group and alert rules...'
azd env set WIRE_EVENTS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
