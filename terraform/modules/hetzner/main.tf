# Hetzner Cloud load-generator fleet for `loadtest provision`.
#
# Creates: one private network + subnet, one firewall, N servers, and an SSH
# key only when the project has none with the same public key (see
# ssh-key-choice/: Hetzner refuses a second copy of a key).
# Reachability:
#   - from outside: TCP 22 from var.operator_cidr only (Hetzner Cloud Firewall,
#     inbound is default-deny once a firewall is attached);
#   - Selenium Grid ports: no public rule at all. Fleet members reach each other
#     over the private network; Hetzner Cloud Firewalls do not filter private
#     network traffic, and only this fleet's servers are attached to it;
#   - egress: all (explicit rules below), needed for packages, images, the Jitsi
#     web/XMPP endpoints and JVB media (UDP 10000).

locals {
  zone_by_location = {
    nbg1 = "eu-central"
    fsn1 = "eu-central"
    hel1 = "eu-central"
    ash  = "us-east"
    hil  = "us-west"
    sin  = "ap-southeast"
  }
  network_zone = var.network_zone != "" ? var.network_zone : lookup(local.zone_by_location, var.location, "eu-central")

  common_labels = merge(var.labels, {
    "managed-by"     = "loadtest"
    "loadtest-fleet" = var.name_prefix
  })

  # One private network per server, so one() is safe.
  private_ips = [for s in hcloud_server.this : one([for n in s.network : n.ip])]

  # The key the servers get: the fleet's own, or an existing one (name or ID).
  ssh_key = module.ssh_key.create ? one(hcloud_ssh_key.this[*].id) : module.ssh_key.reuse
}

# Every key of the project, to find the user's key if it is already there.
data "hcloud_ssh_keys" "project" {}

module "ssh_key" {
  source       = "./ssh-key-choice"
  public_key   = var.ssh_public_key
  existing     = var.existing_ssh_key
  project_keys = data.hcloud_ssh_keys.project.ssh_keys
  fleet        = var.name_prefix
}

resource "hcloud_ssh_key" "this" {
  count = module.ssh_key.create ? 1 : 0

  name       = "${var.name_prefix}-key"
  public_key = trimspace(var.ssh_public_key)
  labels     = local.common_labels
}

resource "hcloud_network" "this" {
  name     = "${var.name_prefix}-net"
  ip_range = var.network_cidr
  labels   = local.common_labels
}

resource "hcloud_network_subnet" "this" {
  network_id   = hcloud_network.this.id
  type         = "cloud"
  network_zone = local.network_zone
  ip_range     = var.subnet_cidr
}

resource "hcloud_firewall" "this" {
  name   = "${var.name_prefix}-fw"
  labels = local.common_labels

  rule {
    description = "SSH from the operator only"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = [var.operator_cidr]
  }

  rule {
    description     = "all TCP egress"
    direction       = "out"
    protocol        = "tcp"
    port            = "any"
    destination_ips = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description     = "all UDP egress (JVB media, DNS, NTP)"
    direction       = "out"
    protocol        = "udp"
    port            = "any"
    destination_ips = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description     = "ICMP egress"
    direction       = "out"
    protocol        = "icmp"
    destination_ips = ["0.0.0.0/0", "::/0"]
  }
}

resource "hcloud_server" "this" {
  count = var.server_count

  name         = "${var.name_prefix}-${count.index}"
  server_type  = var.server_type
  image        = var.image
  location     = var.location
  ssh_keys     = [local.ssh_key]
  firewall_ids = [hcloud_firewall.this.id]
  user_data    = var.user_data != "" ? var.user_data : null

  labels = merge(local.common_labels, {
    "role" = count.index == 0 ? "grid-hub" : "grid-node"
  })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  network {
    network_id = hcloud_network.this.id
    ip         = cidrhost(var.subnet_cidr, 10 + count.index)
  }

  # The provider docs require this: without it the server and the subnet are
  # created in parallel and attaching the server to the network fails randomly.
  depends_on = [hcloud_network_subnet.this]

  lifecycle {
    # Keys are injected at creation only, and a change of ssh_keys replaces the
    # server (provider docs): which key object a later apply finds must not
    # rebuild running load generators.
    ignore_changes = [ssh_keys]
  }
}
