# A function's dead-letter queue managed by Terraform: dead_letter_config naming an SQS queue
# Terraform creates too. tests/integration/test_terraform_dlq.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "queue" {
  type    = string
  default = "tf-fn-dlq"
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
  }
}

resource "aws_sqs_queue" "dlq" { name = var.queue }

resource "aws_lambda_function" "fn" {
  function_name    = "tf-dlq-fn"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }
}
