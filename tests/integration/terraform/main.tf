terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "endpoint" { type = string }
variable "colour" {
  type    = string
  default = "teal"
}
variable "memory" {
  type    = number
  default = 256
}

# Lamina serves every service on one port. In dev mode (no LAMINA_ACCESS_KEYS) any key pair
# is accepted, e.g. LocalStack's test/test; with keys configured, use one of those pairs. The account id comes from Lamina's
# STS GetCallerIdentity (or set skip_requesting_account_id = true).
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  default_tags {
    tags = { project = "lamina-tf" } # every taggable resource, read back on each plan
  }
  endpoints {
    lambda    = var.endpoint
    s3        = var.endpoint
    sqs       = var.endpoint
    iam       = var.endpoint
    sts       = var.endpoint
    events    = var.endpoint
    scheduler = var.endpoint
    logs      = var.endpoint
  }
}

resource "aws_iam_role" "fn" {
  name = "tf-fn"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}
resource "aws_iam_role_policy" "fn" {
  name = "queues"
  role = aws_iam_role.fn.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["sqs:*"], Resource = "*" }]
  })
}
resource "aws_iam_role_policy_attachment" "basic" {
  role       = aws_iam_role.fn.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_lambda_layer_version" "greet" {
  layer_name          = "tf-greet"
  filename            = "layer.zip"
  source_code_hash    = filebase64sha256("layer.zip")
  compatible_runtimes = ["python3.12"]
}

resource "aws_lambda_function" "fn" {
  function_name    = "tf-fn"
  role             = aws_iam_role.fn.arn
  handler          = "app.handler"
  runtime          = "python3.12"
  filename         = "fn.zip"
  source_code_hash = filebase64sha256("fn.zip")
  layers           = [aws_lambda_layer_version.greet.arn]
  publish          = true
  environment {
    variables = { COLOUR = var.colour }
  }
}

resource "aws_s3_bucket" "code" { bucket = "tf-code" }
resource "aws_s3_object" "code" {
  bucket = aws_s3_bucket.code.id
  key    = "fn.zip"
  source = "fn.zip"
  etag   = filemd5("fn.zip")
}
resource "aws_lambda_function" "from_s3" {
  function_name = "tf-from-s3"
  role          = aws_iam_role.fn.arn
  handler       = "app.handler"
  runtime       = "python3.12"
  s3_bucket     = aws_s3_object.code.bucket
  s3_key        = aws_s3_object.code.key
  timeout       = 10
  memory_size   = var.memory
}

resource "aws_lambda_alias" "live" {
  name             = "live"
  function_name    = aws_lambda_function.fn.function_name
  function_version = aws_lambda_function.fn.version
}
resource "aws_lambda_function_url" "fn" {
  function_name      = aws_lambda_function.fn.function_name
  authorization_type = "NONE"
}
resource "aws_lambda_function_event_invoke_config" "fn" {
  function_name                = aws_lambda_function.fn.function_name
  maximum_retry_attempts       = 1
  maximum_event_age_in_seconds = 600
  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }
}

resource "aws_sqs_queue" "dlq" { name = "tf-dlq" }
resource "aws_sqs_queue" "q" {
  name                       = "tf-q"
  visibility_timeout_seconds = 60
  redrive_policy             = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dlq.arn, maxReceiveCount = 3 })
  tags                       = { team = "lamina" }
}
resource "aws_lambda_event_source_mapping" "q" {
  event_source_arn = aws_sqs_queue.q.arn
  function_name    = aws_lambda_function.fn.arn
  batch_size       = 5
}

resource "aws_s3_bucket" "uploads" {
  bucket = "tf-uploads"
  tags   = { env = "dev" }
}
resource "aws_lambda_permission" "s3" {
  statement_id  = "AllowS3"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn.function_name
  principal     = "s3.amazonaws.com"
  source_arn    = aws_s3_bucket.uploads.arn
}
resource "aws_s3_bucket_notification" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  lambda_function {
    lambda_function_arn = aws_lambda_function.fn.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "in/"
  }
  depends_on = [aws_lambda_permission.s3]
}

resource "aws_cloudwatch_event_rule" "tick" {
  name                = "tf-tick"
  schedule_expression = "rate(5 minutes)"
}
resource "aws_cloudwatch_event_target" "tick" {
  rule = aws_cloudwatch_event_rule.tick.name
  arn  = aws_lambda_function.fn.arn
}
resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.tick.arn
}

resource "aws_scheduler_schedule" "nightly" {
  name                = "tf-nightly"
  schedule_expression = "cron(0 3 * * ? *)"
  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 15
  }
  target {
    arn      = aws_lambda_function.fn.arn
    role_arn = aws_iam_role.fn.arn
    input    = jsonencode({ job = "nightly" })
    retry_policy {
      maximum_retry_attempts = 2
    }
  }
}

output "url" { value = aws_lambda_function_url.fn.function_url }

data "aws_caller_identity" "me" {}
output "account" { value = data.aws_caller_identity.me.account_id }

# Bucket configurations, a queue policy and a log group: resources of their own.
resource "aws_s3_bucket_versioning" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  versioning_configuration { status = "Enabled" }
}
resource "aws_s3_bucket_policy" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Sid = "Read", Effect = "Allow", Principal = "*", Action = "s3:GetObject", Resource = "${aws_s3_bucket.uploads.arn}/*" }]
  })
}
resource "aws_s3_bucket_public_access_block" "uploads" {
  bucket                  = aws_s3_bucket.uploads.id
  block_public_acls       = true
  block_public_policy     = false
  ignore_public_acls      = true
  restrict_public_buckets = false
}
resource "aws_s3_bucket_server_side_encryption_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}
resource "aws_s3_bucket_cors_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  cors_rule {
    allowed_methods = ["GET"]
    allowed_origins = ["*"]
  }
}
resource "aws_s3_bucket_lifecycle_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter { prefix = "tmp/" }
    expiration { days = 7 }
  }
}
resource "aws_sqs_queue_policy" "q" {
  queue_url = aws_sqs_queue.q.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Sid = "S", Effect = "Allow", Principal = { Service = "events.amazonaws.com" }, Action = "sqs:SendMessage", Resource = aws_sqs_queue.q.arn }]
  })
}
resource "aws_cloudwatch_log_group" "fn" {
  name              = "/aws/lambda/tf-extra"
  retention_in_days = 7
}
