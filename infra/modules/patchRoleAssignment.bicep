// Assigns the VM patch role on one resource group (used when patchRoleScopes narrows the
// role from a whole target subscription to some of its resource groups).
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for authorization/microsoft.authorization/2022-04-01;
// copies in tests/fixtures/published/bicep-types).

param roleDefinitionId string

@description('Principal id of the app identity')
param appPrincipalId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, appPrincipalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Patch Watch: assess (and, with remediation on, install) patches on VMs in this resource group'
  }
}
