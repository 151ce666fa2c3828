// One watched Update Manager maintenance configuration (deployed in its resource group):
// - Reader on the configuration itself (its schedule: recurEvery, window, time zone);
// - its Event Grid system topic (topic type Microsoft.Maintenance.MaintenanceConfigurations,
//   in the configuration's region) and, once the functions are deployed (wireEvents), a
//   subscription of Pre/PostMaintenanceEvent to the function maintenance_events;
// - with CANCEL_UNHEALTHY_RUNS on, a custom role allowing only to read and cancel
//   (write) the runs (applyUpdates) of this configuration.

param configurationName string

@description('Region of the maintenance configuration (its system topic must be there)')
param location string

param environmentName string
param tags object = {}

@description('Principal id of the app identity')
param appPrincipalId string

@description('Allow the app to cancel runs of this configuration (CANCEL_UNHEALTHY_RUNS)')
param cancelRuns bool = false

param wireEvents bool = false

param functionAppId string

@description('Function that receives Pre/PostMaintenanceEvent')
param functionName string

param deadLetterAccountId string
param deadLetterContainerName string

@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveMinutes int = 1440

var reader = 'acdd72a7-3c48-4c3a-bc47-5aab5f8b5d45'

resource configuration 'Microsoft.Maintenance/maintenanceConfigurations@2023-04-01' existing = {
  name: configurationName
}

resource readConfiguration 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configuration.id, appPrincipalId, reader)
  scope: configuration
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch reads the schedule of this maintenance configuration'
  }
}

resource runCanceller 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (cancelRuns) {
  name: guid(configuration.id, environmentName, 'patch-watch-run-canceller')
  properties: {
    roleName: 'Patch Watch run canceller (${environmentName}, ${configurationName}, ${uniqueString(configuration.id)})'
    description: 'Read and cancel the maintenance runs (applyUpdates) of one maintenance configuration.'
    type: 'customRole'
    permissions: [
      {
        actions: [
          'Microsoft.Maintenance/applyUpdates/read'
          'Microsoft.Maintenance/applyUpdates/write'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource cancelAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (cancelRuns) {
  name: guid(configuration.id, appPrincipalId, 'patch-watch-run-canceller')
  scope: configuration
  properties: {
    roleDefinitionId: runCanceller.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch cancels runs whose VMs are unhealthy (CANCEL_UNHEALTHY_RUNS)'
  }
}

// A regional source: dead letters still go key-based, like every other subscription here,
// so one container and one mechanism hold them all.
resource maintenanceTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: take('evgt-${replace(replace(configurationName, '_', '-'), '.', '-')}-${uniqueString(configuration.id)}', 128)
  location: location
  tags: tags
  properties: {
    source: configuration.id
    topicType: 'Microsoft.Maintenance.MaintenanceConfigurations'
  }
}

resource maintenanceToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (wireEvents) {
  parent: maintenanceTopic
  name: 'patch-watch-maintenance-events'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Maintenance.PreMaintenanceEvent'
        'Microsoft.Maintenance.PostMaintenanceEvent'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveMinutes
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: deadLetterAccountId
        blobContainerName: deadLetterContainerName
      }
    }
  }
}

output systemTopicName string = maintenanceTopic.name
