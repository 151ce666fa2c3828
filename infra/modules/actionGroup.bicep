// The action group that Service Health alert rules (one per target subscription) call:
// it posts the Azure Monitor common alert schema to the HTTP function action_group_alerts
// (route "alerts", function-level key). Created once the code is deployed, because the
// function and its key exist only then (see wireEvents in main.bicep).

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
