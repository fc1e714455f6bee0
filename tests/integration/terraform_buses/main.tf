# A custom event bus managed by Terraform: a rule on it with an event pattern, a queue target
# with an input transformer, a FIFO queue target with its message group, and a function
# whose async results go to the bus.
# tests/integration/test_terraform_buses.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "template" {
  type    = string
  default = "{\"number\": <n>, \"says\": \"<kind> #<n>\"}"
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {
    lambda = var.endpoint
    sqs    = var.endpoint
    events = var.endpoint
  }
}

resource "aws_cloudwatch_event_bus" "results" {
  name        = "tf-results"
  description = "results of tf-bus-fn"
  tags        = { team = "shop" }
}

resource "aws_sqs_queue" "seen" { name = "tf-bus-seen" }

resource "aws_cloudwatch_event_rule" "orders" {
  name           = "tf-orders"
  event_bus_name = aws_cloudwatch_event_bus.results.name
  event_pattern  = jsonencode({ source = ["shop"] })
}

resource "aws_cloudwatch_event_target" "seen" {
  rule           = aws_cloudwatch_event_rule.orders.name
  event_bus_name = aws_cloudwatch_event_bus.results.name
  target_id      = "seen"
  arn            = aws_sqs_queue.seen.arn
  input_transformer {
    input_paths = {
      n    = "$.detail.n"
      kind = "$.detail-type"
    }
    input_template = var.template
  }
}

resource "aws_sqs_queue" "fifo" {
  name       = "tf-bus-fifo.fifo"
  fifo_queue = true
}

resource "aws_cloudwatch_event_target" "fifo" {
  rule           = aws_cloudwatch_event_rule.orders.name
  event_bus_name = aws_cloudwatch_event_bus.results.name
  target_id      = "fifo"
  arn            = aws_sqs_queue.fifo.arn
  sqs_target { message_group_id = "orders" }
}

resource "aws_lambda_function" "fn" {
  function_name    = "tf-bus-fn"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
}

resource "aws_lambda_function_event_invoke_config" "fn" {
  function_name = aws_lambda_function.fn.function_name
  destination_config {
    on_success { destination = aws_cloudwatch_event_bus.results.arn }
    on_failure { destination = aws_cloudwatch_event_bus.results.arn }
  }
}
