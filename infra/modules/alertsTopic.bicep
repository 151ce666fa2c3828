// The alerts custom topic: the app publishes each alert once, as a CloudEvent, with its
// managed identity (EventGrid Data Sender on this topic only; local auth is off). Anyone
// routes alerts on from here with more subscriptions (README: Deploy, routing alerts).
// The example subscription drops every alert into a storage queue, delivered with the
// topic's own identity, so alerts are kept even before anything else is wired.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for eventgrid/microsoft.eventgrid/2025-02-15, authorization/.../2022-04-01, storage/.../2025-01-01;
// copies in tests/fixtures/published/bicep-types).

param name string
param location string
param tags object = {}

@description('Principal id of the app identity (the only publisher)')
param appPrincipalId string

@description('Account that holds the example alerts queue and the dead-letter container')
param eventStoreAccountName string
param alertsQueueName string
param deadLetterContainerName string

@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveMinutes int = 1440

// Built-in role ids: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md
// (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles); the table in
// tests/support/azure_roles.py is checked by make test.
var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'
var queueMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  //checkov:skip=CKV_AZURE_193:The app publishes over the public endpoint (no VNet); local auth is off, so only Entra ID principals with Data Sender can publish
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    // CloudEvents 1.0 input and Entra ID only: articles/event-grid/cloud-event-schema.md,
    // articles/event-grid/authenticate-with-microsoft-entra-id.md (disableLocalAuth).
    inputSchema: 'CloudEventSchemaV1_0'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    dataResidencyBoundary: 'WithinGeopair'
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch publishes alerts'
  }
}

resource eventStore 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: eventStoreAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' existing = {
  parent: eventStore
  name: 'default'
}

resource alertsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' existing = {
  parent: queueService
  name: alertsQueueName
}

resource topicToQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alertsQueue.id, topic.id, queueMessageSender)
  scope: alertsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueMessageSender)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    description: 'The alerts topic delivers to the example alerts queue'
  }
}

resource exampleSubscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'alerts-to-queue'
  dependsOn: [
    topicToQueue
  ]
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    // Storage queue delivery with the topic's system identity (Storage Queue Data Message
    // Sender on the queue): articles/event-grid/handler-storage-queues.md,
    // articles/event-grid/managed-service-identity.md.
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: eventStore.id
          queueName: alertsQueueName
          queueMessageTimeToLiveInSeconds: -1
        }
      }
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveMinutes
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: eventStore.id
        blobContainerName: deadLetterContainerName
      }
    }
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
