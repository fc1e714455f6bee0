# Lambda's advanced logging controls managed by Terraform: logging_config with the JSON
# format and its levels, the JSON format alone (Lambda's INFO defaults) and Text.
# tests/integration/test_terraform_logging.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "application_log_level" {
  type    = string
  default = "DEBUG"
}
variable "system_log_level" {
  type    = string
  default = "INFO"
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
  }
}

resource "aws_lambda_function" "levels" {
  function_name    = "tf-log-levels"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
  logging_config {
    log_format            = "JSON"
    application_log_level = var.application_log_level
    system_log_level      = var.system_log_level
  }
}

resource "aws_lambda_function" "json_defaults" {
  function_name    = "tf-log-json"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
  logging_config {
    log_format = "JSON"
  }
}

resource "aws_lambda_function" "text" {
  function_name    = "tf-log-text"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
  logging_config {
    log_format = "Text"
  }
}
