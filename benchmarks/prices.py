"""AWS list prices the cost model uses: one table, its region, sources and the date they were read.

Region: US East (N. Virginia), us-east-1. The deployment runs in eu-central-1, whose list prices are
the same for Lambda and a little higher for some services; the price pages render their regional
tables in the browser, and the stored copies we could read carry the us-east-1 figures only, so
those are used and the region is stated wherever a cost is printed. Multiply by the eu-central-1 /
us-east-1 ratio of your own price list to convert. No free tier is counted.

Read 2026-11-25 unless noted. Sources (aws.amazon.com/<service>/pricing/ unless noted):
- Lambda (arm64): lambda/pricing; SnapStart for Python: the same page's SnapStart section (cache
  per GB-second of each active version with SnapStart, at least 3 hours; restore per GB restored).
  INIT billing: since 2025-08-01 the INIT phase of on-demand ZIP functions on managed runtimes is
  billed like the handler's duration (AWS Compute Blog, "AWS Lambda standardizes billing for INIT
  Phase", 2025-04-29).
- DynamoDB on-demand (Standard table class): dynamodb/pricing/on-demand (the prices after the
  November 2024 reduction).
- SQS: sqs/pricing (each 64 KB chunk of a payload is one request; FIFO requests cost more).
- EventBridge custom events: eventbridge/pricing (each 64 KB chunk of an event is one event).
- S3 Standard requests and storage: s3/pricing; DynamoDB storage: dynamodb/pricing/on-demand.
- Secrets Manager: secrets-manager/pricing (per secret per month, and per 10,000 API calls).
- CloudWatch Logs (Standard log class) ingestion: cloudwatch/pricing.
- API Gateway HTTP API (the customer link): api-gateway/pricing (first 300 million a month).
- NAT gateway and public IPv4 addresses (egress pool, README): vpc/pricing.
"""

from __future__ import annotations

REGION = "us-east-1"
READ_ON = "2026-11-25"

LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1_000_000
SNAPSTART_CACHE_GB_SECOND = 0.0000015046  # per GB-second a version with SnapStart is active
SNAPSTART_RESTORE_GB = 0.0001397998  # per GB restored (each cold start from the snapshot)

DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_UNIT = 0.125 / 1_000_000

SQS_STANDARD_REQUEST = 0.40 / 1_000_000
SQS_FIFO_REQUEST = 0.50 / 1_000_000

EVENTBRIDGE_EVENT = 1.00 / 1_000_000

S3_PUT_REQUEST = 0.005 / 1_000  # PUT, COPY, POST, LIST
S3_GET_REQUEST = 0.0004 / 1_000  # GET, SELECT and all other requests

SECRETS_MANAGER_CALL = 0.05 / 10_000
SECRETS_MANAGER_SECRET_MONTH = 0.40

CLOUDWATCH_LOGS_INGESTED_GB = 0.50

# At rest (the table's storage lines): S3 Standard, first 50 TB; DynamoDB Standard table class.
S3_STORAGE_GB_MONTH = 0.023
DYNAMODB_STORAGE_GB_MONTH = 0.25

HTTP_API_REQUEST = 1.00 / 1_000_000

NAT_GATEWAY_HOUR = 0.045
NAT_GATEWAY_GB = 0.045
PUBLIC_IPV4_HOUR = 0.005

HOURS_PER_MONTH = 730
