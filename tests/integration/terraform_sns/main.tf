# A topic fanned out to a function (with its invoke permission for SNS) and to a queue with
# raw delivery and a filter policy, its access policy, and an alarm notifying it, managed by
# Terraform. tests/integration/test_terraform_sns.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "filter" {
  type    = string
  default = "{\"kind\": [\"order\"]}"
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {
    lambda     = var.endpoint
    sqs        = var.endpoint
    sns        = var.endpoint
    cloudwatch = var.endpoint
  }
}

resource "aws_sns_topic" "orders" {
  name         = "tf-orders"
  display_name = "Orders"
  tags         = { team = "shop" }
}

resource "aws_sqs_queue" "seen" { name = "tf-sns-seen" }

resource "aws_sns_topic_subscription" "queue" {
  topic_arn            = aws_sns_topic.orders.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.seen.arn
  raw_message_delivery = true
  filter_policy        = var.filter
}

resource "aws_lambda_function" "fn" {
  function_name    = "tf-sns-fn"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
}

resource "aws_lambda_permission" "sns" {
  statement_id  = "sns"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.orders.arn
}

resource "aws_sns_topic_subscription" "fn" {
  topic_arn = aws_sns_topic.orders.arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.fn.arn
}

resource "aws_sns_topic_policy" "orders" {
  arn = aws_sns_topic.orders.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "events"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.orders.arn
    }]
  })
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "tf-sns-fn-errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.fn.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  alarm_actions       = [aws_sns_topic.orders.arn]
}
