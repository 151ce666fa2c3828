// The user-assigned managed identity the function app runs as. Every permission the app
// has is a role assignment to this identity, made next to the resource it is about.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for msi/microsoft.managedidentity/2024-11-30;
// copies in tests/fixtures/published/bicep-types).

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
