# A metric math alarm managed by Terraform: the standard Lambda error-rate alarm, with
# metric_query blocks (PutMetricAlarm's Metrics over CloudWatch's query protocol).
# tests/integration/test_terraform_alarms.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "threshold" {
  type    = number
  default = 10
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {
    cloudwatch = var.endpoint
  }
}

resource "aws_cloudwatch_metric_alarm" "error_rate" {
  alarm_name          = "tf-flaky-error-rate"
  alarm_description   = "tf-flaky fails more than the threshold's percent of its invokes"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = var.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = ["arn:aws:lambda:us-east-1:000000000000:function:tf-on-call"]

  metric_query {
    id          = "e1"
    expression  = "100 * errors / invocations"
    label       = "Error rate"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      metric_name = "Errors"
      namespace   = "AWS/Lambda"
      period      = 300
      stat        = "Sum"
      dimensions  = { FunctionName = "tf-flaky" }
    }
  }

  metric_query {
    id = "invocations"
    metric {
      metric_name = "Invocations"
      namespace   = "AWS/Lambda"
      period      = 300
      stat        = "Sum"
      dimensions  = { FunctionName = "tf-flaky" }
    }
  }
}
