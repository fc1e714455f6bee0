terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "answer" {
  type    = string
  default = "1"
}
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {
    cloudformation = var.endpoint
    lambda         = var.endpoint
    sts            = var.endpoint
  }
}
# A stack of one function with inline code; its parameter is its answer.
resource "aws_cloudformation_stack" "app" {
  name = "tf-stack"
  parameters = { Answer = var.answer }
  template_body = jsonencode({
    Parameters = { Answer = { Type = "String" } }
    Resources = {
      Fn = {
        Type = "AWS::Lambda::Function"
        Properties = {
          FunctionName = "tf-stack-fn"
          Runtime      = "python3.11"
          Handler      = "index.handler"
          Role         = "arn:aws:iam::000000000000:role/lambda-role"
          Code         = { ZipFile = "import os\ndef handler(event, context):\n    return os.environ['ANSWER']\n" }
          Environment  = { Variables = { ANSWER = { Ref = "Answer" } } }
        }
      }
    }
    Outputs = { Arn = { Value = { "Fn::GetAtt" = ["Fn", "Arn"] } } }
  })
}
output "arn" { value = aws_cloudformation_stack.app.outputs["Arn"] }
