# Output names are identical in every fleet module (hetzner, ionos, aws).

output "public_ips" {
  description = "Public IPv4 address of each instance, in server-index order."
  value       = aws_instance.this[*].public_ip
}

output "private_ips" {
  description = "Private (VPC) IPv4 address of each instance, in server-index order."
  value       = aws_instance.this[*].private_ip
}

output "server_names" {
  description = "Instance Name tags, in server-index order."
  value       = [for i in aws_instance.this : i.tags["Name"]]
}

output "server_ids" {
  description = "EC2 instance IDs, in server-index order."
  value       = aws_instance.this[*].id
}

output "hub_private_ip" {
  description = "Private IP of server 0, which runs the Selenium Grid hub."
  value       = length(aws_instance.this) > 0 ? aws_instance.this[0].private_ip : null
}

output "ssh_user" {
  description = "Login user for SSH bootstrap (var.ssh_user; admin for Debian's official AMIs)."
  value       = var.ssh_user
}
