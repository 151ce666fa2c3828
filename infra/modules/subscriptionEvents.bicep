// Subscription-level event plumbing of one target subscription, in a resource group of
// that subscription:
// - the Microsoft.ResourceNotifications.HealthResources system topic (source: the
//   subscription) and its subscription to the function health_events;
// - the Service Health alert rule for planned maintenance (activity log, category
//   ServiceHealth, incidentType Maintenance) that calls the action group, which posts the
//   common alert schema to action_group_alerts.
// The subscription and the rule are created once the functions are deployed (wireEvents).

param environmentName string
param tags object = {}

param wireEvents bool = false

param functionAppId string

@description('Function that receives the health events')
param functionName string

@description('Resource types whose health events are delivered (empty: all)')
param healthResourceTypes array = []

@description('Action group the Service Health alert rule calls (empty: no rule)')
param actionGroupId string = ''

param deadLetterAccountId string
param deadLetterContainerName string

@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveMinutes int = 1440

var typeFilter = [
  {
    operatorType: 'StringIn'
    key: 'data.resourceInfo.properties.targetResourceType'
    values: healthResourceTypes
  }
]

// A subscription is a global source: its system topic lives in location "global" and can
// have no managed identity, hence key-based dead-lettering (see eventStore.bicep).
resource healthTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: take('evgt-${environmentName}-health-${subscription().subscriptionId}', 128)
  location: 'global'
  tags: tags
  properties: {
    source: subscription().id
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

resource healthToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (wireEvents) {
  parent: healthTopic
  name: 'patch-watch-health-events'
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
        'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'
        'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
      ]
      advancedFilters: empty(healthResourceTypes) ? [] : typeFilter
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

resource plannedMaintenance 'Microsoft.Insights/activityLogAlerts@2020-10-01' = if (wireEvents && !empty(actionGroupId)) {
  name: 'alert-${environmentName}-planned-maintenance'
  location: 'global'
  tags: tags
  properties: {
    description: 'Service Health planned maintenance notices for this subscription, posted to Patch Watch'
    enabled: true
    scopes: [
      subscription().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ServiceHealth'
        }
        {
          field: 'properties.incidentType'
          equals: 'Maintenance'
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroupId
        }
      ]
    }
  }
}

output healthTopicName string = healthTopic.name
