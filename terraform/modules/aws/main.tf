# AWS load-generator fleet for `loadtest provision`.
#
# Creates: one key pair, one security group, N instances in one subnet (by
# default the default VPC's default subnet with the lowest ID among the zones
# that offer var.instance_type, so all instances share one availability zone
# where the type exists: c6i.2xlarge, for one, is not offered in every zone).
# Reachability (security group):
#   - ingress TCP 22 from var.operator_cidr only;
#   - ingress Selenium Grid ports only from members of this same security
#     group (self reference), i.e. only from the fleet, over private IPs;
#   - egress: all (Terraform removes AWS's implicit allow-all, so it is
#     declared explicitly).

data "aws_region" "current" {}

data "aws_vpc" "default" {
  count   = var.subnet_id == null ? 1 : 0
  default = true
}

# The region's availability zones that offer the instance type.
data "aws_ec2_instance_type_offerings" "zones" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }
}

data "aws_subnets" "default" {
  count = var.subnet_id == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }

  filter {
    name   = "availability-zone"
    values = data.aws_ec2_instance_type_offerings.zones.locations
  }
}

locals {
  subnet_ids = var.subnet_id != null ? [var.subnet_id] : sort(data.aws_subnets.default[0].ids)
}

data "aws_subnet" "selected" {
  id = length(local.subnet_ids) > 0 ? local.subnet_ids[0] : ""

  lifecycle {
    precondition {
      condition     = length(local.subnet_ids) > 0
      error_message = "No default subnet of the default VPC is in a zone that offers ${var.instance_type} (zones offering it: ${join(", ", data.aws_ec2_instance_type_offerings.zones.locations)}). Pick another instance_type or pass subnet_id."
    }
  }
}

data "aws_ami" "selected" {
  count       = startswith(var.image, "ami-") ? 0 : 1
  most_recent = true
  owners      = var.ami_owners

  filter {
    name   = "name"
    values = [var.image]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

locals {
  ami_id = startswith(var.image, "ami-") ? var.image : data.aws_ami.selected[0].id

  common_tags = merge(var.labels, {
    "managed-by"     = "loadtest"
    "loadtest-fleet" = var.name_prefix
  })
}

resource "aws_key_pair" "this" {
  key_name   = "${var.name_prefix}-key"
  public_key = trimspace(var.ssh_public_key)
  tags       = local.common_tags
}

resource "aws_security_group" "fleet" {
  name        = "${var.name_prefix}-fleet"
  description = "loadtest fleet: SSH from the operator, Selenium Grid only within the fleet"
  vpc_id      = data.aws_subnet.selected.vpc_id
  tags        = merge(local.common_tags, { "Name" = "${var.name_prefix}-fleet" })

  ingress {
    description = "SSH from the operator only"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.operator_cidr]
  }

  dynamic "ingress" {
    for_each = toset(var.grid_ports)
    content {
      description = "Selenium Grid port ${ingress.value} from fleet members only"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      self        = true
    }
  }

  egress {
    description      = "all egress"
    from_port        = 0
    to_port          = 0
    protocol         = "-1"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }
}

resource "aws_instance" "this" {
  count = var.server_count

  ami                         = local.ami_id
  instance_type               = var.instance_type
  key_name                    = aws_key_pair.this.key_name
  subnet_id                   = data.aws_subnet.selected.id
  vpc_security_group_ids      = [aws_security_group.fleet.id]
  associate_public_ip_address = true
  user_data                   = var.user_data != "" ? var.user_data : null
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_size           = var.disk_gb
    volume_type           = "gp3"
    encrypted             = true
    delete_on_termination = true
  }

  tags = merge(local.common_tags, {
    "Name" = "${var.name_prefix}-${count.index}"
    "role" = count.index == 0 ? "grid-hub" : "grid-node"
  })

  lifecycle {
    # A newer AMI matching the name pattern must not replace running servers
    # when the fleet is re-applied (e.g. scaled up).
    ignore_changes = [ami]

    precondition {
      condition     = data.aws_region.current.name == var.location
      error_message = "The aws provider is configured for region ${data.aws_region.current.name}, but location = ${var.location}. Set both to the same region."
    }
  }
}
