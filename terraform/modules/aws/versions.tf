# Provider pin for the AWS fleet module.
# Credentials: the provider reads the standard AWS environment (AWS_PROFILE, or
# AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN], SSO, instance
# roles). The region is set on the provider block of the generated root config.
# This module has no provider block and no credential variable on purpose; see
# terraform/README.md.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0.0, < 6.0.0"
    }
  }
}
