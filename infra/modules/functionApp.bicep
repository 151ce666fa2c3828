// The Flex Consumption plan and the function app (Python 3.11), running as the
// user-assigned identity. App settings: the app's own (built in main.bicep from
// parameters) plus the platform's identity-based connections. No key, no connection
// string to storage: AzureWebJobsStorage is replaced by its identity-based form with the
// service URIs (__blobServiceUri/__queueServiceUri/__tableServiceUri) plus __credential and
// __clientId. __accountName alone would do only in the public cloud: it implies the
// core.windows.net suffix ("Connecting to host storage with an identity",
// https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity);
// the URIs are built from the cloud's own storage suffix (environment().suffixes.storage:
// https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-deployment#environment),
// so the same template deploys in Azure Government and Azure China.
//
// Azure-defined literals: every resource type, API version, property name and enum value in
// this file is checked by `make infra-check` against Bicep's published type definitions
// (Azure/bicep-types-az generated/.../types.json for web/microsoft.web/2024-11-01;
// copies in tests/fixtures/published/bicep-types).

param name string
param planName string
param location string
param tags object = {}

@description('azd finds the app to deploy to by this tag value (the service name in azure.yaml)')
param serviceName string = 'app'

param identityId string
param identityClientId string

param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string

@description('Application Insights connection string (ingestion endpoint; local auth is off, so it is not a credential)')
param appInsightsConnectionString string

@description('The settings shared/config.py reads, built in main.bicep from parameters')
param appSettings object

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

var storageSuffix = environment().suffixes.storage

// Setting names: AzureWebJobsStorage__*ServiceUri/__credential/__clientId (functions-reference,
// "Connecting to host storage with an identity"); APPLICATIONINSIGHTS_AUTHENTICATION_STRING
// "ClientId=...;Authorization=AAD" (articles/azure-monitor/app/azure-ad-authentication.md,
// "Azure Functions").
var platformSettings = {
  AzureWebJobsStorage__blobServiceUri: 'https://${storageAccountName}.blob.${storageSuffix}'
  AzureWebJobsStorage__queueServiceUri: 'https://${storageAccountName}.queue.${storageSuffix}'
  AzureWebJobsStorage__tableServiceUri: 'https://${storageAccountName}.table.${storageSuffix}'
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var settings = union(appSettings, platformSettings)

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy needs a zone-redundant storage account and a region with zones; an outage only delays work (timers catch up, Event Grid retries for 24 h)
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  // Flex Consumption: SKU FC1 / tier FlexConsumption, functionAppConfig (deployment from a
  // blob container with a user-assigned identity, scaleAndConcurrency, runtime python 3.11):
  // MicrosoftDocs/azure-docs articles/azure-functions/flex-consumption-how-to.md and the azd
  // Flex samples (Azure-Samples/functions-quickstart-python-http-azd, infra/).
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-11-01' = {
  //checkov:skip=CKV_AZURE_222:Event Grid and action groups deliver over the public endpoint; every function needs a key
  //checkov:skip=CKV_AZURE_17:Event Grid and action groups do not present client certificates
  //checkov:skip=CKV_AZURE_213:Health check pings instances of a dedicated plan; Flex Consumption scales to zero, and the watchdog and Application Insights watch the app
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales per function; there is no fixed instance count to fail over
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(settings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP and no basic-auth publishing: azd deploys with an Entra ID token.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
