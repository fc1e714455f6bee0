// A Node.js function using the AWS SDK for JavaScript v3, written as on AWS: the client
// takes its region, credentials and endpoint from the environment Lambda (or Lamina) sets.
// It writes the event to a bucket, reads it back, and reports what the sandbox looks like
// to the SDK (the SDK reads ~/.aws/config at INIT, so it needs a home directory).
import os from "node:os";
import { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";

const s3 = new S3Client({});

export const handler = async (event, context) => {
  const key = `sdk-v3/${context.awsRequestId}.json`;
  await s3.send(
    new PutObjectCommand({ Bucket: event.bucket, Key: key, Body: JSON.stringify(event) }),
  );
  const got = await s3.send(new GetObjectCommand({ Bucket: event.bucket, Key: key }));
  return {
    key,
    body: await got.Body.transformToString(),
    homedir: os.homedir(),
    region: await s3.config.region(),
    node: process.versions.node,
  };
};
