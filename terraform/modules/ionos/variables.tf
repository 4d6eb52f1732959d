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
  description = "IONOS image name, ID or alias. Debian 12 (alias scheme <distro>:<major>; debian:latest would float to the next major), the system the bootstrap is tested on. Must be cloud-init capable (V1) if user_data is set."
  type        = string
  default     = "debian:12"
}

variable "location" {
  description = "IONOS data center location (de/fra, de/txl, de/fra/2, es/vit, gb/lhr, gb/bhx, fr/par, us/las, us/ewr, us/mci)."
  type        = string
  default     = "de/fra"
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
  description = "TCP ports of the Selenium Grid (event bus 4442/4443, router 4444, node 5555). Reachable only on the fleet's private LAN."
  type        = list(number)
  default     = [4442, 4443, 4444, 5555]

  validation {
    condition     = length(var.grid_ports) > 0 && alltrue([for p in var.grid_ports : p >= 1 && p <= 65535 && floor(p) == p && p != 22])
    error_message = "grid_ports must be TCP port numbers 1-65535 (and not 22)."
  }
}

variable "labels" {
  description = "Extra labels put on every server (IONOS server labels)."
  type        = map(string)
  default     = {}
}

variable "user_data" {
  description = "Optional cloud-init document (plain text). Empty string = none; `loadtest provision` bootstraps over SSH."
  type        = string
  default     = ""
}


# ---------------------------------------------------------------------------
# IONOS-specific inputs (IONOS sells cores and RAM separately, no fixed types)
# ---------------------------------------------------------------------------

variable "cores" {
  description = "CPU cores per server (dedicated cores on ENTERPRISE servers)."
  type        = number
  default     = 4

  validation {
    condition     = var.cores >= 1 && floor(var.cores) == var.cores
    error_message = "cores must be a whole number >= 1."
  }
}

variable "ram_mb" {
  description = "RAM per server in MB (multiple of 256)."
  type        = number
  default     = 8192

  validation {
    condition     = var.ram_mb >= 1024 && var.ram_mb % 256 == 0
    error_message = "ram_mb must be at least 1024 and a multiple of 256."
  }
}

variable "disk_gb" {
  description = "Boot volume size in GB."
  type        = number
  default     = 30
}

variable "disk_type" {
  description = "Boot volume type: HDD, SSD Standard or SSD Premium."
  type        = string
  default     = "SSD Standard"
}

variable "cpu_family" {
  description = "CPU family (e.g. INTEL_SKYLAKE, INTEL_ICELAKE, AMD_EPYC). Empty string = the data center's default."
  type        = string
  default     = ""
}

variable "availability_zone" {
  description = "Server availability zone: AUTO, ZONE_1 or ZONE_2."
  type        = string
  default     = "AUTO"
}
