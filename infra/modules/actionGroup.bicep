// The action group that the Service Health and Resource Health alert rules (two per target subscription) call:
// it posts the Azure Monitor common alert schema to the HTTP function action_group_alerts
// (route "alerts", function-level key). Created once the code is deployed, because the
// function and its key exist only then (see wireEvents in main.bicep).
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for monitor_1/microsoft.insights/2023-01-01;
// copies in tests/fixtures/published/bicep-types).

param name string
param tags object = {}

@maxLength(12)
param shortName string = 'patchwatch'

param functionAppId string
param functionAppHostName string

@description('The HTTP function that receives the alerts')
param functionName string

@description('The route of that function (its URL is https://HOST/api/ROUTE)')
param functionRoute string

// azureFunctionReceivers with useCommonAlertSchema: MicrosoftDocs/azure-docs
// articles/azure-monitor/alerts/action-groups.md ("Function") and
// articles/azure-monitor/alerts/alerts-common-schema.md. listKeys of
// Microsoft.Web/sites/functions (API version 2024-11-01) is not checked by make infra-check.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: name
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: shortName
    enabled: true
    // The receiver URL carries the key of this one function (not the host key), as the
    // portal does when it creates an Azure Function action.
    azureFunctionReceivers: [
      {
        name: 'patch-watch-alerts'
        functionAppResourceId: functionAppId
        functionName: functionName
        httpTriggerUrl: 'https://${functionAppHostName}/api/${functionRoute}?code=${listKeys('${functionAppId}/functions/${functionName}', '2024-11-01').default}'
        useCommonAlertSchema: true
      }
    ]
  }
}

output id string = actionGroup.id
