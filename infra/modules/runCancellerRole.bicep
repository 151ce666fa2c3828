// The "run canceller" custom role of one watched maintenance configuration (only with
// CANCEL_UNHEALTHY_RUNS on), defined at the scope of that configuration's subscription and
// assignable only in its resource group. Custom roles are defined through a subscription
// deployment in Microsoft's own example ("Create a new role def via a subscription level
// deployment": MicrosoftDocs/azure-docs articles/azure-resource-manager/bicep/scenarios-rbac.md),
// and assignableScopes may name resource groups (articles/role-based-access-control/role-definitions.md,
// "AssignableScopes"), so the definition's id is the subscription-scoped form that role
// assignments take, and it can be assigned on the configuration inside that group.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for authorization/microsoft.authorization/2022-04-01;
// copies in tests/fixtures/published/bicep-types).

targetScope = 'subscription'

param environmentName string

@description('Resource id of the watched maintenance configuration')
param configurationId string

// Action strings: MicrosoftDocs/azure-docs
// articles/role-based-access-control/resource-provider-operations.md (Microsoft.Maintenance:
// applyUpdates/read, applyUpdates/write). Cancelling a run is a PUT of the applyUpdates
// resource with status Cancel (/work/shared/domain.md, section 3).
var cancelActions = [
  'Microsoft.Maintenance/applyUpdates/read'
  'Microsoft.Maintenance/applyUpdates/write'
]

var configurationGroupId = '/subscriptions/${split(configurationId, '/')[2]}/resourceGroups/${split(configurationId, '/')[4]}'

// Microsoft.Authorization/roleDefinitions@2022-04-01: azure-rest-api-specs
// specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01.
resource runCanceller 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(configurationId, environmentName, 'patch-watch-run-canceller')
  properties: {
    roleName: 'Patch Watch run canceller (${environmentName}, ${last(split(configurationId, '/'))}, ${uniqueString(configurationId)})'
    description: 'Read and cancel the maintenance runs (applyUpdates) of one maintenance configuration.'
    type: 'customRole'
    permissions: [
      {
        actions: cancelActions
        notActions: []
      }
    ]
    assignableScopes: [
      configurationGroupId
    ]
  }
}

output id string = runCanceller.id
