# An EventBridge archive managed by Terraform on a custom bus, with an event pattern and a
# retention (a variable, so the test can change it in place).
# tests/integration/test_terraform_archive.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "retention" {
  type    = number
  default = 7
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {
    events = var.endpoint
  }
}

resource "aws_cloudwatch_event_bus" "orders" {
  name = "tf-archived"
}

resource "aws_cloudwatch_event_archive" "orders" {
  name             = "tf-orders"
  event_source_arn = aws_cloudwatch_event_bus.orders.arn
  description      = "orders, for replays"
  event_pattern    = jsonencode({ source = ["shop"] })
  retention_days   = var.retention
}
