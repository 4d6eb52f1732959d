# IONOS Cloud load-generator fleet for `loadtest provision`.
#
# Creates: one virtual data center, a public LAN and a private LAN, N ENTERPRISE
# servers (boot volume + public NIC inline), one private NIC per server, and
# firewall rules on both NICs.
# Reachability:
#   - public NIC: firewall active, INGRESS only TCP 22 from var.operator_cidr
#     (inbound is default-deny on an active NIC firewall; egress unrestricted);
#   - private NIC: on a private LAN that only this fleet's NICs join; firewall
#     active, INGRESS only the Selenium Grid ports (and ICMP for diagnostics);
#   - egress: all (the INGRESS-type firewall does not filter outbound traffic).
# SSH keys are injected into the IONOS public image (no separate key resource
# exists at IONOS): ssh_keys on the server takes the key text directly.

locals {
  common_labels = merge(var.labels, {
    "managed-by"     = "loadtest"
    "loadtest-fleet" = var.name_prefix
  })

  # One firewall rule per (server, grid port) on the private NICs.
  grid_rules = {
    for pair in setproduct(range(var.server_count), var.grid_ports) :
    "${pair[0]}-${pair[1]}" => { server = pair[0], port = pair[1] }
  }

  private_ips = [for nic in ionoscloud_nic.private : nic.ips[0]]
}

resource "ionoscloud_datacenter" "this" {
  name        = var.name_prefix
  location    = var.location
  description = "loadtest load-generator fleet ${var.name_prefix}"
}

resource "ionoscloud_lan" "public" {
  datacenter_id = ionoscloud_datacenter.this.id
  public        = true
  name          = "${var.name_prefix}-public"
}

resource "ionoscloud_lan" "private" {
  datacenter_id = ionoscloud_datacenter.this.id
  public        = false
  name          = "${var.name_prefix}-private"
}

resource "ionoscloud_server" "this" {
  count = var.server_count

  name              = "${var.name_prefix}-${count.index}"
  datacenter_id     = ionoscloud_datacenter.this.id
  type              = "ENTERPRISE"
  cores             = var.cores
  ram               = var.ram_mb
  cpu_family        = var.cpu_family != "" ? var.cpu_family : null
  availability_zone = var.availability_zone
  image_name        = var.image
  ssh_keys          = [trimspace(var.ssh_public_key)]

  volume {
    name      = "${var.name_prefix}-${count.index}-boot"
    size      = var.disk_gb
    disk_type = var.disk_type
    bus       = "VIRTIO"
    # IONOS wants the cloud-init document base64-encoded.
    user_data = var.user_data != "" ? base64encode(var.user_data) : null
  }

  nic {
    name            = "public"
    lan             = ionoscloud_lan.public.id
    dhcp            = true
    firewall_active = true
    firewall_type   = "INGRESS"

    firewall {
      name             = "ssh-from-operator"
      protocol         = "TCP"
      port_range_start = 22
      port_range_end   = 22
      source_ip        = var.operator_cidr
      type             = "INGRESS"
    }
  }

  dynamic "label" {
    for_each = merge(local.common_labels, {
      "role" = count.index == 0 ? "grid-hub" : "grid-node"
    })
    content {
      key   = label.key
      value = label.value
    }
  }
}

resource "ionoscloud_nic" "private" {
  count = var.server_count

  datacenter_id   = ionoscloud_datacenter.this.id
  server_id       = ionoscloud_server.this[count.index].id
  lan             = ionoscloud_lan.private.id
  name            = "private"
  dhcp            = true
  firewall_active = true
  firewall_type   = "INGRESS"
}

# Selenium Grid ports, only on the private NIC. The private LAN holds only this
# fleet's NICs, so "any source on this NIC" means "any fleet member".
resource "ionoscloud_firewall" "grid" {
  for_each = local.grid_rules

  datacenter_id    = ionoscloud_datacenter.this.id
  server_id        = ionoscloud_server.this[each.value.server].id
  nic_id           = ionoscloud_nic.private[each.value.server].id
  name             = "grid-${each.value.port}"
  protocol         = "TCP"
  port_range_start = each.value.port
  port_range_end   = each.value.port
  type             = "INGRESS"
}

resource "ionoscloud_firewall" "private_icmp" {
  count = var.server_count

  datacenter_id = ionoscloud_datacenter.this.id
  server_id     = ionoscloud_server.this[count.index].id
  nic_id        = ionoscloud_nic.private[count.index].id
  name          = "icmp-within-fleet"
  protocol      = "ICMP"
  type          = "INGRESS"
}
