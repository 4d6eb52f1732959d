# Which SSH key the fleet's servers get, decided without any provider (so it is
# tested offline with a real terraform, see tests/terraform):
#   1. the key the user named (existing_ssh_key: name or ID), else
#   2. a key already in the project with the same public key. Hetzner refuses a
#      second copy ("SSH key with the same fingerprint already exists",
#      uniqueness_error), which is the common case: the user's key is usually
#      in the project, or another fleet uploaded it. Keys this fleet created
#      itself (label loadtest-fleet = fleet) do not count, so a re-apply keeps
#      the key it made instead of deleting it. Else
#   3. a new key, created by the fleet module.

variable "public_key" {
  description = "The OpenSSH public key line the servers should accept."
  type        = string
}

variable "existing" {
  description = "Name or ID of a key already in the project; empty = look the key up."
  type        = string
  default     = ""
}

variable "project_keys" {
  description = "Every SSH key of the project (data.hcloud_ssh_keys.*.ssh_keys)."
  type = list(object({
    id         = string
    name       = string
    public_key = string
    labels     = map(string)
  }))
}

variable "fleet" {
  description = "The fleet's name_prefix (its own keys carry label loadtest-fleet = fleet)."
  type        = string
}

locals {
  # Key type and base64 blob: equal blobs are equal fingerprints; comments may differ.
  blob = join(" ", slice(split(" ", trimspace(var.public_key)), 0, 2))
  same_key = [
    for k in var.project_keys : tostring(k.id)
    if join(" ", slice(split(" ", trimspace(k.public_key)), 0, 2)) == local.blob
    && lookup(coalesce(k.labels, {}), "loadtest-fleet", "") != var.fleet
  ]
}

output "create" {
  description = "True when the fleet must upload the key itself."
  value       = var.existing == "" && length(local.same_key) == 0
}

output "reuse" {
  description = "Name or ID of the key to use instead of creating one (null when create is true)."
  value       = var.existing != "" ? var.existing : (length(local.same_key) > 0 ? local.same_key[0] : null)
}
