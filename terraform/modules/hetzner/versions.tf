# Provider pin for the Hetzner Cloud fleet module.
# Credentials: the provider reads HCLOUD_TOKEN from the environment. This module
# has no provider block and no token variable on purpose; see terraform/README.md.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = ">= 1.49.1, < 2.0.0"
    }
  }
}
