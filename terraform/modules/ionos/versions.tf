# Provider pin for the IONOS Cloud fleet module.
# Credentials: the provider reads IONOS_TOKEN (or IONOS_USERNAME + IONOS_PASSWORD)
# from the environment. This module has no provider block and no credential
# variable on purpose; see terraform/README.md.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    ionoscloud = {
      source  = "ionos-cloud/ionoscloud"
      version = ">= 6.4.10, < 7.0.0"
    }
  }
}
