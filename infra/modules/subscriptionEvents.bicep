// Subscription-level event plumbing of one target subscription, in a resource group of
// that subscription:
// - the Microsoft.ResourceNotifications.HealthResources system topic (source: the
//   subscription) and its subscription to the function health_events. That topic reports
//   virtual machines and scale sets only (single-instance VMs, VMSS VMs, VMSS:
//   MicrosoftDocs/azure-docs articles/event-grid/event-schema-health-resources.md), so
//   SQL health comes from the Resource Health rule below;
// - the Service Health alert rule for planned maintenance of Azure SQL (activity log,
//   category ServiceHealth, incidentType Maintenance, impacted services SQL Database and
//   SQL Managed Instance) and the Resource Health alert rule for SQL databases and
//   managed instances; both call the action group, which posts the common alert schema
//   to action_group_alerts.
// The subscription and the rules are created once the functions are deployed (wireEvents).
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for eventgrid/microsoft.eventgrid/2025-02-15, monitor_1/microsoft.insights/2020-10-01;
// copies in tests/fixtures/published/bicep-types).

param environmentName string
param tags object = {}

param wireEvents bool = false

param functionAppId string

@description('Function that receives the health events')
param functionName string

@description('Resource types whose health events are delivered (empty: all)')
param healthResourceTypes array = []

@description('Action group the Service Health and Resource Health alert rules call (empty: no rules)')
param actionGroupId string = ''

// Service names as Service Health spells them in properties.impactedServices[*].ServiceName:
// MicrosoftDocs/azure-docs articles/azure-monitor/alerts/resource-manager-alerts-service-health.md
// (its template filters exactly these two; valid names come from the Resource Health
// Metadata List API). The SQL advance-notification how-to (MicrosoftDocs/sql-docs
// azure-sql/database/advance-notifications.md) has users pick these services.
@description('Service Health services whose planned maintenance reaches Patch Watch')
param maintenanceServices array = [
  'SQL Database'
  'SQL Managed Instance'
]

// ARM resource types of the SQL resources whose Resource Health reaches Patch Watch
// (the activity log's resourceType field: MicrosoftDocs/azure-docs
// articles/service-health/resource-health-alert-arm-template-guide.md, "Adjusting the
// resource types which alert you"; types from azure-rest-api-specs
// specification/sql/resource-manager/Microsoft.Sql).
@description('Resource types whose Resource Health alerts reach Patch Watch')
param sqlHealthResourceTypes array = [
  'Microsoft.Sql/servers/databases'
  'Microsoft.Sql/managedInstances'
]

param deadLetterAccountId string
param deadLetterContainerName string

@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveMinutes int = 1440

// Advanced filter on the event's data (operatorType StringIn, key data.<path>:
// MicrosoftDocs/azure-docs articles/event-grid/event-filtering.md); the key is the
// published event's data.resourceInfo.properties.targetResourceType
// (articles/event-grid/event-schema-health-resources.md).
var typeFilter = [
  {
    operatorType: 'StringIn'
    key: 'data.resourceInfo.properties.targetResourceType'
    values: healthResourceTypes
  }
]

// A subscription is a global source: its system topic lives in location "global" and can
// have no managed identity (MicrosoftDocs/azure-docs
// articles/event-grid/enable-identity-system-topics.md), so its dead letters are written
// without one (see eventStore.bicep).
// Microsoft.EventGrid/systemTopics@2025-02-15: azure-rest-api-specs
// specification/eventgrid/resource-manager/Microsoft.EventGrid/stable/2025-02-15;
// topic type as in articles/event-grid/subscribe-to-resource-notifications-health-resources-events.md.
resource healthTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: take('evgt-${environmentName}-health-${subscription().subscriptionId}', 128)
  location: 'global'
  tags: tags
  properties: {
    source: subscription().id
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

// Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15 (same spec folder);
// endpointType AzureFunction: articles/event-grid/handler-functions.md.
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
      // Event types: MicrosoftDocs/azure-docs articles/event-grid/event-schema-health-resources.md (also
      // azure-eventgrid's SystemEventNames).
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

// Activity log alert rules (Microsoft.Insights/activityLogAlerts@2020-10-01: azure-rest-api-specs
// specification/monitor/resource-manager/Microsoft.Insights/stable/2020-10-01/activityLogAlerts_API.json).
// Service Health: location Global, scope this one subscription, conditions as in
// articles/azure-monitor/alerts/resource-manager-alerts-service-health.md (category
// ServiceHealth, properties.incidentType, properties.impactedServices[*].ServiceName
// with containsAny).
resource plannedMaintenance 'Microsoft.Insights/activityLogAlerts@2020-10-01' = if (wireEvents && !empty(actionGroupId)) {
  name: 'alert-${environmentName}-planned-maintenance'
  location: 'global'
  tags: tags
  properties: {
    description: 'Service Health planned maintenance notices of Azure SQL for this subscription, posted to Patch Watch'
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
        {
          field: 'properties.impactedServices[*].ServiceName'
          containsAny: maintenanceServices
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

// Resource Health of the SQL databases and managed instances of this subscription, at the
// stages that carry a change of health: Active (the resource became unhealthy) and
// Resolved (healthy again), so the webhook sees a database go down and come back. In
// Progress and Updated are left out: they may carry no currentHealthStatus at all (the
// same guide: "it's possible for the currentHealthStatus and previousHealthStatus
// properties to be null in some events"), which the webhook would refuse. Conditions as in
// articles/service-health/resource-health-alert-arm-template-guide.md (category
// ResourceHealth; anyOf resourceType equals ...; anyOf status equals ...).
resource sqlResourceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = if (wireEvents && !empty(actionGroupId)) {
  name: 'alert-${environmentName}-sql-resource-health'
  location: 'global'
  tags: tags
  properties: {
    description: 'Resource Health of Azure SQL databases and managed instances in this subscription, posted to Patch Watch'
    enabled: true
    scopes: [
      subscription().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ResourceHealth'
        }
        {
          anyOf: [for t in sqlHealthResourceTypes: {
            field: 'resourceType'
            equals: t
          }]
        }
        {
          anyOf: [
            {
              field: 'status'
              equals: 'Active'
            }
            {
              field: 'status'
              equals: 'Resolved'
            }
          ]
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
