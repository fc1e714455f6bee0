# A CloudWatch alarm managed by Terraform (hashicorp/aws talks CloudWatch's query protocol):
# errors of a function notify another function. tests/integration/test_terraform_alarms.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "team" {
  type    = string
  default = "lamina"
}
variable "threshold" {
  type    = number
  default = 2
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  default_tags {
    tags = { project = "lamina-tf" }
  }
  endpoints {
    cloudwatch = var.endpoint
  }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "tf-flaky-errors"
  alarm_description   = "tf-flaky fails"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = "tf-flaky" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = ["arn:aws:lambda:us-east-1:000000000000:function:tf-on-call"]
  tags                = { team = var.team }
}
