// Everything Patch Watch needs in one target subscription (deployed at that subscription's
// scope, once per entry of TARGET_SUBSCRIPTION_IDS):
// - Reader on the subscription: Resource Graph returns only what the caller may read, and
//   the app reads VMs, SQL databases and managed instances, maintenance configurations
//   (public SQL ones included), assignments and runs, patch results and health there.
// - A custom role with nothing but the assessPatches action (and installPatches only when
//   remediation is on; reading the VMs comes with Reader), assigned on the subscription or
//   only on the resource groups listed in patchRoleScopes.
// - A resource group for the subscription-level event plumbing: the HealthResources system
//   topic with its subscription to health_events, and the Service Health (SQL planned
//   maintenance) and Resource Health (SQL databases and managed instances) alert rules
//   that call the action group.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for authorization/.../2022-04-01, resources_11/microsoft.resources/2024-03-01;
// copies in tests/fixtures/published/bicep-types).

targetScope = 'subscription'

param environmentName string
param location string
param tags object = {}

@description('Resource group created in this subscription for the system topic and the alert rule')
param eventsResourceGroupName string

@description('Principal id of the app identity')
param appPrincipalId string

@description('Allow installPatches (REMEDIATE_AFTER_DEADLINE)')
param remediate bool = false

@description('Assign the patch role on the whole subscription (true) or only on the resource groups in patchRoleScopes (false)')
param patchAtSubscription bool = true

@description('Resource group ids (of any target subscription) that get the patch role when patchAtSubscription is false')
param patchRoleScopes array = []

@description('Create the event subscription and the alert rule (needs the deployed functions)')
param wireEvents bool = false

param functionAppId string
param healthFunctionName string

@description('Resource types whose health events are delivered (empty: all)')
param healthResourceTypes array = []

param actionGroupId string = ''

param deadLetterAccountId string
param deadLetterContainerName string

param maxDeliveryAttempts int = 30
param eventTimeToLiveMinutes int = 1440

// Built-in Reader: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md
// ("General"); checked by tests/support/azure_roles.py.
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

var ownGroupPrefix = toLower('${subscription().id}/resourceGroups/')
var ownScopes = filter(patchRoleScopes, g => startsWith(toLower(g), ownGroupPrefix))
var patchResourceGroups = [for g in ownScopes: last(split(g, '/'))]

// Action strings: MicrosoftDocs/azure-docs
// articles/role-based-access-control/resource-provider-operations.md (Microsoft.Compute) and
// the Update Manager permissions table (articles/update-manager/roles-permissions.md:
// "Update assessment" / "Install update" on Azure VMs and on Azure Arc-enabled servers, the
// latter also in resource-provider-operations.md, Microsoft.HybridCompute). Reading machines
// and polling the operations (Microsoft.Compute/locations/operations/read) are not repeated
// here: Reader (*/read) grants them on the same subscription.
var assessActions = [
  'Microsoft.Compute/virtualMachines/assessPatches/action'
  'Microsoft.HybridCompute/machines/assessPatches/action'
]
var installActions = [
  'Microsoft.Compute/virtualMachines/installPatches/action'
  'Microsoft.HybridCompute/machines/installPatches/action'
]

// One definition per target subscription: role names are unique in a tenant, and a role
// defined at subscription scope with this subscription as its assignable scope can be
// assigned here and in this subscription's resource groups (assignableScopes:
// MicrosoftDocs/azure-docs articles/role-based-access-control/role-definitions.md).
// Microsoft.Authorization/roleDefinitions@2022-04-01 and roleAssignments@2022-04-01:
// azure-rest-api-specs specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01.
resource patchRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'patch-watch-vm-patch-operator')
  properties: {
    roleName: 'Patch Watch VM patch operator (${environmentName}, ${subscription().subscriptionId})'
    description: 'Start patch assessments on Azure VMs and Arc-enabled servers; install patches only when remediation is on.'
    type: 'customRole'
    permissions: [
      {
        actions: remediate ? concat(assessActions, installActions) : assessActions
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch: Resource Graph, SQL, maintenance configurations and runs, health (read only)'
  }
}

resource patchAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (patchAtSubscription) {
  name: guid(subscription().id, appPrincipalId, patchRole.id)
  properties: {
    roleDefinitionId: patchRole.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch: assess (and, with remediation on, install) patches on VMs'
  }
}

module patchAssignmentsInGroups 'patchRoleAssignment.bicep' = [for (group, i) in patchResourceGroups: if (!patchAtSubscription) {
  name: take('pw-${environmentName}-patchrole-${i}', 64)
  scope: resourceGroup(group)
  params: {
    roleDefinitionId: patchRole.id
    appPrincipalId: appPrincipalId
  }
}]

// Microsoft.Resources/resourceGroups@2024-03-01: azure-rest-api-specs
// specification/resources/resource-manager/Microsoft.Resources/stable/2024-03-01.
resource eventsGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: eventsResourceGroupName
  location: location
  tags: tags
}

module subscriptionEvents 'subscriptionEvents.bicep' = {
  name: take('pw-${environmentName}-subscription-events', 64)
  scope: eventsGroup
  params: {
    environmentName: environmentName
    tags: tags
    wireEvents: wireEvents
    functionAppId: functionAppId
    functionName: healthFunctionName
    healthResourceTypes: healthResourceTypes
    actionGroupId: actionGroupId
    deadLetterAccountId: deadLetterAccountId
    deadLetterContainerName: deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveMinutes: eventTimeToLiveMinutes
  }
}

output patchRoleId string = patchRole.id
output eventsResourceGroupId string = eventsGroup.id
