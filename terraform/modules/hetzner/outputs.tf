# Output names are identical in every fleet module (hetzner, ionos, aws).

output "public_ips" {
  description = "Public IPv4 address of each server, in server-index order."
  value       = hcloud_server.this[*].ipv4_address
}

output "private_ips" {
  description = "Private-network IPv4 address of each server, in server-index order."
  value       = local.private_ips
}

output "server_names" {
  description = "Server names, in server-index order."
  value       = hcloud_server.this[*].name
}

output "server_ids" {
  description = "Provider IDs of the servers, in server-index order."
  value       = hcloud_server.this[*].id
}

output "hub_private_ip" {
  description = "Private IP of server 0, which runs the Selenium Grid hub."
  value       = length(local.private_ips) > 0 ? local.private_ips[0] : null
}

output "ssh_user" {
  description = "Login user for SSH bootstrap (Hetzner images log in as root)."
  value       = "root"
}
