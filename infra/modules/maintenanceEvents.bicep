// One watched Update Manager maintenance configuration (deployed in its resource group):
// - Reader on the configuration itself (its schedule: recurEvery, window, time zone);
// - its Event Grid system topic (topic type Microsoft.Maintenance.MaintenanceConfigurations,
//   in the configuration's region) and, once the functions are deployed (wireEvents), a
//   subscription of Pre/PostMaintenanceEvent to the function maintenance_events;
// - with CANCEL_UNHEALTHY_RUNS on, the assignment on this configuration of the custom
//   role (defined at subscription scope by runCancellerRole.bicep) that allows only to
//   read and cancel (write) its runs (applyUpdates).
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for eventgrid/microsoft.eventgrid/2025-02-15, maintenance/.../2023-04-01, authorization/.../2022-04-01;
// copies in tests/fixtures/published/bicep-types).

param configurationName string

@description('Region of the maintenance configuration (its system topic must be there)')
param location string

param environmentName string
param tags object = {}

@description('Principal id of the app identity')
param appPrincipalId string

@description('Allow the app to cancel runs of this configuration (CANCEL_UNHEALTHY_RUNS)')
param cancelRuns bool = false

@description('Id of the run canceller role (runCancellerRole.bicep); used when cancelRuns')
param cancellerRoleId string = ''

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

// Built-in Reader: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md
// ("General"); checked by tests/support/azure_roles.py.
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

// Microsoft.Maintenance/maintenanceConfigurations@2023-04-01: azure-rest-api-specs
// specification/maintenance/resource-manager/Microsoft.Maintenance/stable/2023-04-01.
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

resource cancelAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (cancelRuns) {
  name: guid(configuration.id, appPrincipalId, 'patch-watch-run-canceller')
  scope: configuration
  properties: {
    roleDefinitionId: cancellerRoleId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch cancels runs whose VMs are unhealthy (CANCEL_UNHEALTHY_RUNS)'
  }
}

// A regional source. Dead letters go to the same container as every other subscription
// here, without an identity, so one container and one mechanism hold them all.
// Microsoft.EventGrid/systemTopics@2025-02-15: azure-rest-api-specs
// specification/eventgrid/resource-manager/Microsoft.EventGrid/stable/2025-02-15; topic type
// Microsoft.Maintenance.MaintenanceConfigurations and the Pre/PostMaintenanceEvent types:
// MicrosoftDocs/azure-docs articles/event-grid/event-schema-maintenance-configuration.md.
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
      endpointType: 'AzureFunction' // articles/event-grid/handler-functions.md
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      // Event types: MicrosoftDocs/azure-docs articles/event-grid/event-schema-maintenance-configuration.md.
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
