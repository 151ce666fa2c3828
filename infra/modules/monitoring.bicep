// Log Analytics workspace and workspace-based Application Insights for the function app.
// Local (key) authentication is off: the app sends telemetry with its managed identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), which needs Monitoring Metrics Publisher.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for operationalinsights/.../2023-09-01, applicationinsights/microsoft.insights/2020-02-02, authorization/.../2022-04-01;
// copies in tests/fixtures/published/bicep-types).

@description('Log Analytics workspace name')
param workspaceName string

@description('Application Insights component name')
param appInsightsName string

param location string
param tags object = {}

@description('Days the workspace keeps data')
@minValue(30)
@maxValue(730)
param retentionDays int = 30

@description('Daily ingestion cap in GB (cost guard); -1 means no cap')
param dailyQuotaGb int = 1

@description('Principal id of the app identity that sends telemetry')
param appPrincipalId string

// Built-in role ids: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md
// (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles); the table in
// tests/support/azure_roles.py is checked by make test.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch sends its telemetry with Entra ID (local auth is off)'
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
output appInsightsName string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
