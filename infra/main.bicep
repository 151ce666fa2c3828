// Patch Watch: everything the function app needs, for `azd up` (or
// `az deployment sub create -f infra/main.bicep -p infra/main.parameters.json`).
//
// Subscription scope: the app lives in one resource group of this subscription, and the
// deployment reaches into each target subscription (role assignments, the HealthResources
// system topic, the Service Health and Resource Health alert rules) and into the resource group of each watched
// maintenance configuration (its system topic). See docs/operations.md, "Deploy".
//
// Two passes: Event Grid validates an Azure Function destination, and an action group
// reads the key of its function, so those exist only after the code is deployed. The first
// `azd up` provisions with wireEvents=false and deploys the code; the postdeploy hook then
// sets WIRE_EVENTS=true and provisions again, which adds the subscriptions, the action
// group and the alert rules.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for resources_11/microsoft.resources/2024-03-01, maintenance/microsoft.maintenance/2023-04-01;
// copies in tests/fixtures/published/bicep-types).

targetScope = 'subscription'

// ---- deployment ------------------------------------------------------------------------

@minLength(1)
@maxLength(48)
@description('azd environment name: resource names and tags derive from it')
param environmentName string

@minLength(1)
@description('Region of the app resources (one that offers Flex Consumption)')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group of the app (default rg-ENVIRONMENT)')
param resourceGroupName string = ''

@description('Resource group created in each target subscription for its system topic and alert rule (default rg-ENVIRONMENT-events)')
param eventsResourceGroupName string = ''

@description('Create the Event Grid subscriptions to the functions, the action group and the alert rules (needs the deployed code)')
param wireEvents bool = false

@description('Replication of the app storage account (outcome history lives there)')
param storageSkuName string = 'Standard_LRS'

@description('Flex Consumption: most instances the app may scale out to')
param maximumInstanceCount int = 40

@description('Flex Consumption: memory of one instance (MB)')
param instanceMemoryMB int = 2048

@description('Days the Log Analytics workspace keeps telemetry')
param logRetentionDays int = 30

@description('Daily ingestion cap of the workspace in GB (-1: none)')
param logDailyQuotaGb int = 1

@description('Resource id of the Log Analytics workspace the fleet reports heartbeats to (empty: the app workspace)')
param heartbeatWorkspaceResourceId string = ''

@description('Resource group ids (comma-separated) that alone get the VM patch role; empty: every target subscription')
param patchRoleScopes string = ''

// The HealthResources system topic reports single-instance VMs, scale sets and scale-set VMs
// only (MicrosoftDocs/azure-docs articles/event-grid/event-schema-health-resources.md);
// SQL databases and managed instances never appear there: their health comes from the
// Resource Health alert rule (modules/subscriptionEvents.bicep).
@description('Resource types whose HealthResources events reach health_events (comma-separated; empty: all the topic reports)')
param healthResourceTypes string = 'Microsoft.Compute/virtualMachines'

@description('Event Grid delivery attempts before an event is dead-lettered')
param eventMaxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before it is dead-lettered')
param eventTimeToLiveMinutes int = 1440

@description('Days dead-lettered events are kept')
param deadLetterRetentionDays int = 90

// ---- app settings (shared/config.py; same names in azd env, see main.parameters.json) --

@description('OUTCOMES_STORAGE: account URL or connection string of another account for the outcome tables (empty: the app account)')
param outcomesStorage string = ''

@description('OUTCOMES_TABLE_PREFIX')
param outcomesTablePrefix string = 'pw'

@description('BASELINE_MONTHS')
param baselineMonths string = '1,4,7,10'

@description('UNPLANNED_BASELINE_MONTHS')
param unplannedBaselineMonths string = ''

@description('PATCH_OFFSET_DAYS')
param patchOffsetDays string = '0'

@description('INSTALL_DEADLINE_DAYS')
param installDeadlineDays string = '30'

@description('TARGET_SUBSCRIPTION_IDS: also where the roles, the health topic and the alert rule go')
param targetSubscriptionIds string = ''

@description('TARGET_RESOURCE_GROUPS')
param targetResourceGroups string = ''

@description('TARGET_TAG')
param targetTag string = ''

@description('ALLOWED_SUBSCRIPTION_IDS')
param allowedSubscriptionIds string = ''

@description('SQL_EXCLUDED_SERVICE_OBJECTIVES')
param sqlExcludedServiceObjectives string = 'Basic,S0,S1,HS_*'

@description('SQL_EXCLUDED_HARDWARE')
param sqlExcludedHardware string = 'DC,Fsv2,Gen4,M'

@description('CYCLE_SCHEDULE')
param cycleSchedule string = '0 5 * * * *'

@description('WATCHDOG_SCHEDULE')
param watchdogSchedule string = '0 */15 * * * *'

@description('REASSESS_EVERY_DAYS')
param reassessEveryDays string = '3'

@description('WATCHDOG_FULL')
param watchdogFull string = 'false'

@description('WATCHDOG_REBUILD_HOURS')
param watchdogRebuildHours string = '24'

@description('AZURE_CLOUD (empty: the cloud this deployment runs in)')
param azureCloud string = ''

@description('ARM_ENDPOINT')
param armEndpoint string = ''

@description('AUTHORITY_HOST')
param authorityHost string = ''

@description('LOGS_ENDPOINT')
param logsEndpoint string = ''

@description('REMEDIATE_AFTER_DEADLINE: also grants installPatches')
param remediateAfterDeadline bool = false

@description('REMEDIATION_MAX_CONCURRENCY')
param remediationMaxConcurrency string = '10'

@description('REMEDIATION_MAX_ERRORS')
param remediationMaxErrors string = '5'

@description('REMEDIATION_MAX_DURATION')
param remediationMaxDuration string = 'PT3H'

@description('CANCEL_UNHEALTHY_RUNS: also grants cancelling runs of the watched configurations')
param cancelUnhealthyRuns bool = false

@description('CANCEL_UNHEALTHY_SHARE')
param cancelUnhealthyShare string = '0.5'

@description('MAINTENANCE_GRACE_MINUTES')
param maintenanceGraceMinutes string = '60'

@description('HEALTH_GRACE_MINUTES')
param healthGraceMinutes string = '30'

@description('WATCHED_MAINTENANCE_CONFIGURATIONS: each gets a system topic and a subscription to maintenance_events')
param watchedMaintenanceConfigurations string = ''

// ---- names -----------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'patch-watch'
}
var appGroupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var eventsGroupName = empty(eventsResourceGroupName) ? 'rg-${environmentName}-events' : eventsResourceGroupName
var workspaceName = 'log-${resourceToken}'
var appWorkspaceId = '${subscription().id}/resourceGroups/${appGroupName}/providers/Microsoft.OperationalInsights/workspaces/${workspaceName}'
var heartbeatWorkspaceId = empty(heartbeatWorkspaceResourceId) ? appWorkspaceId : heartbeatWorkspaceResourceId
var actionGroupName = 'ag-${environmentName}-patch-watch'
var actionGroupId = '${subscription().id}/resourceGroups/${appGroupName}/providers/Microsoft.Insights/actionGroups/${actionGroupName}'
var deploymentContainerName = 'app-package'

// The functions the events are wired to (names as registered in function_app.py).
var maintenanceFunctionName = 'maintenance_events'
var healthFunctionName = 'health_events'
var alertsFunctionName = 'action_group_alerts'
var alertsFunctionRoute = 'alerts'

// Comma-separated parameters (the app setting format) as lists.
var targetSubscriptionList = filter(split(replace(replace(targetSubscriptionIds, ';', ','), ' ', ','), ','), s => !empty(s))
var watchedConfigurationList = filter(split(replace(replace(watchedMaintenanceConfigurations, ';', ','), ' ', ','), ','), c => !empty(c))
var patchScopeList = filter(split(replace(replace(patchRoleScopes, ';', ','), ' ', ','), ','), g => !empty(g))
var healthTypeList = filter(split(replace(healthResourceTypes, ' ', ''), ','), t => !empty(t))
// environment().name is AzureCloud / AzureUSGovernment / AzureChinaCloud (Bicep
// environment() function: articles/azure-resource-manager/bicep/bicep-functions-deployment.md);
// AZURE_CLOUD names the public one AzurePublicCloud (shared/config.py).
var deploymentCloud = environment().name == 'AzureCloud' ? 'AzurePublicCloud' : environment().name

// ---- the app ---------------------------------------------------------------------------

resource appGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: appGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: appGroup
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: appGroup
  params: {
    workspaceName: workspaceName
    appInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    retentionDays: logRetentionDays
    dailyQuotaGb: logDailyQuotaGb
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: appGroup
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    appPrincipalId: identity.outputs.principalId
  }
}

module eventStore 'modules/eventStore.bicep' = {
  name: 'event-store'
  scope: appGroup
  params: {
    name: 'stev${resourceToken}'
    location: location
    tags: tags
    deadLetterRetentionDays: deadLetterRetentionDays
  }
}

module alertsTopic 'modules/alertsTopic.bicep' = {
  name: 'alerts-topic'
  scope: appGroup
  params: {
    name: 'evgt-${resourceToken}-alerts'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    eventStoreAccountName: eventStore.outputs.name
    alertsQueueName: eventStore.outputs.alertsQueueName
    deadLetterContainerName: eventStore.outputs.deadLetterContainerName
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveMinutes: eventTimeToLiveMinutes
  }
}

module heartbeatWorkspace 'modules/workspaceReader.bicep' = {
  name: take('pw-${environmentName}-heartbeat-reader', 64)
  scope: resourceGroup(split(heartbeatWorkspaceId, '/')[2], split(heartbeatWorkspaceId, '/')[4])
  dependsOn: [
    monitoring
  ]
  params: {
    workspaceName: last(split(heartbeatWorkspaceId, '/'))
    appPrincipalId: identity.outputs.principalId
  }
}

// Every setting shared/config.py reads, except AzureWebJobsStorage (identity-based
// __accountName/__credential/__clientId instead, set in functionApp.bicep) and
// ALERTS_TOPIC_KEY (the topic accepts Entra ID only). tests/unit/test_infra.py checks this.
var appSettings = {
  OUTCOMES_STORAGE: empty(outcomesStorage) ? storage.outputs.tableEndpoint : outcomesStorage
  OUTCOMES_TABLE_PREFIX: outcomesTablePrefix
  BASELINE_MONTHS: baselineMonths
  UNPLANNED_BASELINE_MONTHS: unplannedBaselineMonths
  PATCH_OFFSET_DAYS: patchOffsetDays
  INSTALL_DEADLINE_DAYS: installDeadlineDays
  TARGET_SUBSCRIPTION_IDS: targetSubscriptionIds
  TARGET_RESOURCE_GROUPS: targetResourceGroups
  TARGET_TAG: targetTag
  ALLOWED_SUBSCRIPTION_IDS: allowedSubscriptionIds
  SQL_EXCLUDED_SERVICE_OBJECTIVES: sqlExcludedServiceObjectives
  SQL_EXCLUDED_HARDWARE: sqlExcludedHardware
  CYCLE_SCHEDULE: cycleSchedule
  WATCHDOG_SCHEDULE: watchdogSchedule
  REASSESS_EVERY_DAYS: reassessEveryDays
  WATCHDOG_FULL: watchdogFull
  WATCHDOG_REBUILD_HOURS: watchdogRebuildHours
  AZURE_CLOUD: empty(azureCloud) ? deploymentCloud : azureCloud
  ARM_ENDPOINT: armEndpoint
  AUTHORITY_HOST: authorityHost
  LOGS_ENDPOINT: logsEndpoint
  AZURE_CLIENT_ID: identity.outputs.clientId
  REMEDIATE_AFTER_DEADLINE: remediateAfterDeadline ? 'true' : 'false'
  REMEDIATION_MAX_CONCURRENCY: remediationMaxConcurrency
  REMEDIATION_MAX_ERRORS: remediationMaxErrors
  REMEDIATION_MAX_DURATION: remediationMaxDuration
  CANCEL_UNHEALTHY_RUNS: cancelUnhealthyRuns ? 'true' : 'false'
  CANCEL_UNHEALTHY_SHARE: cancelUnhealthyShare
  ALERTS_TOPIC_ENDPOINT: alertsTopic.outputs.endpoint
  LOG_ANALYTICS_WORKSPACE_ID: heartbeatWorkspace.outputs.customerId
  MAINTENANCE_GRACE_MINUTES: maintenanceGraceMinutes
  HEALTH_GRACE_MINUTES: healthGraceMinutes
  WATCHED_MAINTENANCE_CONFIGURATIONS: watchedMaintenanceConfigurations
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'function-app'
  scope: appGroup
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: appSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module actionGroup 'modules/actionGroup.bicep' = if (wireEvents) {
  name: 'action-group'
  scope: appGroup
  params: {
    name: actionGroupName
    tags: tags
    functionAppId: functionApp.outputs.id
    functionAppHostName: functionApp.outputs.defaultHostName
    functionName: alertsFunctionName
    functionRoute: alertsFunctionRoute
  }
}

// ---- what is watched -------------------------------------------------------------------

module targets 'modules/targetSubscription.bicep' = [for (subscriptionId, i) in targetSubscriptionList: {
  name: take('pw-${environmentName}-target-${i}', 64)
  scope: subscription(subscriptionId)
  dependsOn: [
    actionGroup
  ]
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    eventsResourceGroupName: eventsGroupName
    appPrincipalId: identity.outputs.principalId
    remediate: remediateAfterDeadline
    patchAtSubscription: empty(patchScopeList)
    patchRoleScopes: patchScopeList
    wireEvents: wireEvents
    functionAppId: functionApp.outputs.id
    healthFunctionName: healthFunctionName
    healthResourceTypes: healthTypeList
    actionGroupId: wireEvents ? actionGroupId : ''
    deadLetterAccountId: eventStore.outputs.id
    deadLetterContainerName: eventStore.outputs.deadLetterContainerName
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveMinutes: eventTimeToLiveMinutes
  }
}]

resource watchedConfigurations 'Microsoft.Maintenance/maintenanceConfigurations@2023-04-01' existing = [for configurationId in watchedConfigurationList: {
  name: last(split(configurationId, '/'))
  scope: resourceGroup(split(configurationId, '/')[2], split(configurationId, '/')[4])
}]

module cancellerRoles 'modules/runCancellerRole.bicep' = [for (configurationId, i) in watchedConfigurationList: if (cancelUnhealthyRuns) {
  name: take('pw-${environmentName}-canceller-${i}', 64)
  scope: subscription(split(configurationId, '/')[2])
  params: {
    environmentName: environmentName
    configurationId: configurationId
  }
}]

module maintenanceEvents 'modules/maintenanceEvents.bicep' = [for (configurationId, i) in watchedConfigurationList: {
  name: take('pw-${environmentName}-maintenance-${i}', 64)
  scope: resourceGroup(split(configurationId, '/')[2], split(configurationId, '/')[4])
  params: {
    configurationName: last(split(configurationId, '/'))
    location: watchedConfigurations[i].location
    environmentName: environmentName
    tags: tags
    appPrincipalId: identity.outputs.principalId
    cancelRuns: cancelUnhealthyRuns
    cancellerRoleId: cancelUnhealthyRuns ? cancellerRoles[i].outputs.id : ''
    wireEvents: wireEvents
    functionAppId: functionApp.outputs.id
    functionName: maintenanceFunctionName
    deadLetterAccountId: eventStore.outputs.id
    deadLetterContainerName: eventStore.outputs.deadLetterContainerName
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveMinutes: eventTimeToLiveMinutes
  }
}]

// ---- outputs (azd stores them in the environment) ----------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = appGroup.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output APP_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output ALERTS_TOPIC_NAME string = alertsTopic.outputs.name
output ALERTS_TOPIC_ID string = alertsTopic.outputs.id
output EVENT_STORE_ACCOUNT string = eventStore.outputs.name
output DEAD_LETTER_CONTAINER_URL string = eventStore.outputs.deadLetterContainerUrl
output EVENTS_WIRED bool = wireEvents
