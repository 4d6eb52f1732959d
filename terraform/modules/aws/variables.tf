# ---------------------------------------------------------------------------
# Common inputs: the same names, types and meaning in every fleet module
# (hetzner, ionos, aws), so the root config that `loadtest provision`
# generates only differs in the provider-specific block below.
# ---------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix for every resource name; servers are named <prefix>-0 .. <prefix>-(N-1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-32 characters of lowercase letters, digits and '-', start with a letter and not end with '-'."
  }
}

variable "server_count" {
  description = "Number of load-generator servers. Server 0 runs the Selenium Grid hub."
  type        = number

  validation {
    condition     = var.server_count >= 1 && var.server_count <= 100 && floor(var.server_count) == var.server_count
    error_message = "server_count must be a whole number between 1 and 100."
  }
}

variable "image" {
  description = "An AMI ID (ami-...) or an AMI name pattern looked up among ami_owners (default: Debian 12 amd64, the system the bootstrap is tested on; Ubuntu ships Chromium only as a snap, which a Grid node cannot drive)."
  type        = string
  default     = "debian-12-amd64-*"
}

variable "location" {
  description = "AWS region (e.g. eu-central-1). The region itself is set on the provider in the root config; the module checks that both agree."
  type        = string
  default     = "eu-central-1"
}

variable "ssh_public_key" {
  description = "OpenSSH PUBLIC key line (ssh-ed25519 AAAA... comment). Never a private key."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line (ssh-ed25519/ssh-rsa/ecdsa-...). Private keys are refused."
  }
}

variable "operator_cidr" {
  description = "IPv4 CIDR allowed to reach SSH (22), e.g. the operator's public address as a /32. Nothing else is reachable from outside."
  type        = string

  validation {
    condition     = can(cidrhost(var.operator_cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", var.operator_cidr)) && !startswith(var.operator_cidr, "0.0.0.0/")
    error_message = "operator_cidr must be an IPv4 CIDR such as 203.0.113.7/32, and not 0.0.0.0/0."
  }
}

variable "grid_ports" {
  description = "TCP ports of the Selenium Grid (event bus 4442/4443, router 4444, node 5555). Reachable only from members of the fleet's security group."
  type        = list(number)
  default     = [4442, 4443, 4444, 5555]

  validation {
    condition     = length(var.grid_ports) > 0 && alltrue([for p in var.grid_ports : p >= 1 && p <= 65535 && floor(p) == p && p != 22])
    error_message = "grid_ports must be TCP port numbers 1-65535 (and not 22)."
  }
}

variable "labels" {
  description = "Extra tags put on every resource that supports them."
  type        = map(string)
  default     = {}
}

variable "user_data" {
  description = "Optional cloud-init document (plain text). Empty string = none; `loadtest provision` bootstraps over SSH."
  type        = string
  default     = ""
}


# ---------------------------------------------------------------------------
# AWS-specific inputs
# ---------------------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type, e.g. c6i.2xlarge (8 vCPU, 16 GiB). See terraform/prices.toml."
  type        = string
  default     = "c6i.2xlarge"
}

variable "disk_gb" {
  description = "Root volume size in GiB (gp3, encrypted)."
  type        = number
  default     = 30
}

variable "subnet_id" {
  description = "Subnet to launch into (must give instances a public IP route and be in a zone offering instance_type). null = the default VPC's default subnet with the lowest ID among the zones that offer instance_type."
  type        = string
  default     = null
}

variable "ami_owners" {
  description = "Owners searched when image is a name pattern. Default: Debian's official cloud images account."
  type        = list(string)
  default     = ["136693071363"]
}

variable "ssh_user" {
  description = "Login user of the image (admin for Debian's official AMIs). Passed through to the ssh_user output."
  type        = string
  default     = "admin"
}
