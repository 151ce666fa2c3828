// Where undeliverable events are kept (dead letters) and where the example alerts
// subscription drops alerts (a queue anyone with access can read). A separate account
// from the app's: Event Grid system topics on global sources (a subscription's
// HealthResources) cannot have a managed identity, so Event Grid dead-letters into this
// account with its own key-based access. The app's identity has no role here.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for storage/microsoft.storage/2025-01-01;
// copies in tests/fixtures/published/bicep-types).

param name string
param location string
param tags object = {}

@description('Container that receives undeliverable Event Grid events')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Queue that receives alerts through the example alerts subscription')
param alertsQueueName string = 'alerts'

@description('Days dead-lettered events are kept before they are deleted')
@minValue(1)
param deadLetterRetentionDays int = 90

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  //checkov:skip=CKV_AZURE_35:Event Grid delivers from the public service; a deny-by-default firewall would need the trusted-service exception for every topic
  //checkov:skip=CKV_AZURE_59:Event Grid delivers from the public service (no VNet, no private endpoint); the app identity has no role here
  //checkov:skip=CKV_AZURE_206:Dead letters and the example alert queue are a diagnostic copy; locally redundant storage is enough
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    // No shared keys: nothing here needs them. Dead letters are written by Event Grid for
    // subscriptions without an identity (global sources cannot have one), and the alerts
    // queue is fed with the topic's identity; Microsoft documents no key requirement for
    // either (articles/event-grid/manage-event-delivery.md).
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: account
  name: 'default'
}

resource alertsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queueService
  name: alertsQueueName
}

resource expireDeadLetters 'Microsoft.Storage/storageAccounts/managementPolicies@2025-01-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-dead-letters'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${deadLetterContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: deadLetterRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output id string = account.id
output name string = account.name
output deadLetterContainerName string = deadLetters.name
output deadLetterContainerUrl string = '${account.properties.primaryEndpoints.blob}${deadLetters.name}'
output alertsQueueName string = alertsQueue.name
