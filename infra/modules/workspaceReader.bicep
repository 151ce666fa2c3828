// Log Analytics Reader on the one workspace whose Heartbeat table the app queries after
// maintenance (the fleet's workspace, or the app's own when none is given). Deployed in
// that workspace's resource group, which may be in another subscription.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for operationalinsights/.../2023-09-01, authorization/.../2022-04-01;
// copies in tests/fixtures/published/bicep-types).

param workspaceName string

@description('Principal id of the app identity')
param appPrincipalId string

// Built-in role ids: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md
// (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles); the table in
// tests/support/azure_roles.py is checked by make test.
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource heartbeatReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, appPrincipalId, logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch reads VM heartbeats after maintenance'
  }
}

@description('The workspace id (GUID) that LOG_ANALYTICS_WORKSPACE_ID expects')
output customerId string = workspace.properties.customerId
