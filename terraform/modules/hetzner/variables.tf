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
  description = "Hetzner image name or ID. Debian 12, the system the bootstrap is tested on (Ubuntu ships Chromium only as a snap, which a Grid node cannot drive). Must be cloud-init capable if user_data is set."
  type        = string
  default     = "debian-12"
}

variable "location" {
  description = "Hetzner location (nbg1, fsn1, hel1, ash, hil, sin)."
  type        = string
  default     = "fsn1"
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
  description = "TCP ports of the Selenium Grid (event bus 4442/4443, router 4444, node 5555). Reachable only inside the fleet's private network."
  type        = list(number)
  default     = [4442, 4443, 4444, 5555]

  validation {
    condition     = length(var.grid_ports) > 0 && alltrue([for p in var.grid_ports : p >= 1 && p <= 65535 && floor(p) == p && p != 22])
    error_message = "grid_ports must be TCP port numbers 1-65535 (and not 22)."
  }
}

variable "labels" {
  description = "Extra labels put on every resource that supports them (Hetzner label rules: keys/values up to 63 chars of [a-zA-Z0-9._-])."
  type        = map(string)
  default     = {}
}

variable "user_data" {
  description = "Optional cloud-init document (plain text). Empty string = none; `loadtest provision` bootstraps over SSH."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------
# Hetzner-specific inputs
# ---------------------------------------------------------------------------

variable "server_type" {
  description = "Hetzner server type, e.g. cx43 (8 shared vCPU) or ccx33 (8 dedicated vCPU). See terraform/prices.toml."
  type        = string
  default     = "cx43"
}

variable "network_cidr" {
  description = "IP range of the fleet's private network."
  type        = string
  default     = "10.42.0.0/16"
}

variable "subnet_cidr" {
  description = "Subnet (inside network_cidr) the servers are attached to. Server i gets host number 10+i."
  type        = string
  default     = "10.42.1.0/24"
}

variable "network_zone" {
  description = "Network zone of the subnet. Empty string = derived from location (eu-central, us-east, us-west, ap-southeast)."
  type        = string
  default     = ""
}

variable "existing_ssh_key" {
  description = "Name or ID of an SSH key already in the Hetzner project, given to the servers instead of uploading ssh_public_key. Empty = use a project key with the same public key if there is one, else upload it."
  type        = string
  default     = ""
}
