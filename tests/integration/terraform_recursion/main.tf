# A function's recursive loop detection setting managed by Terraform
# (aws_lambda_function_recursion_config). tests/integration/test_terraform_recursion.py.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "loop" {
  type    = string
  default = "Allow"
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

resource "aws_lambda_function" "fn" {
  function_name    = "tf-looper"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
}

resource "aws_lambda_function_recursion_config" "loop" {
  function_name  = aws_lambda_function.fn.function_name
  recursive_loop = var.loop
}
