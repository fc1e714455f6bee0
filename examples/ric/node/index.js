// Lamina's hello example run by AWS's own Node.js runtime interface client
// (aws-lambda-ric), deployed as a provided.al2023 function whose `bootstrap`
// starts the client with `index.handler`.
//
// Behaviour is that of the hello examples, with its own runtime name:
//  * {"name": "X"} -> {"message": "Hello, X!", "runtime": "node-aws-lambda-ric",
//    "requestId": ..., "coldStart": <first invoke of this environment>,
//    "invocations": <count>}; without a name, "World".
//  * {"fail": true} -> the handler throws HelloError("asked to fail").
//  * HELLO_FAIL_INIT=1 in the environment -> the module fails to load (init error).
"use strict";

const RUNTIME = "node-aws-lambda-ric";

class HelloError extends Error {
  constructor(message) {
    super(message);
    // The runtime client reports error.name as the errorType.
    this.name = "HelloError";
  }
}

if (process.env.HELLO_FAIL_INIT) {
  throw new HelloError("asked to fail at init");
}

// Module state lives as long as the execution environment: warm invokes see it.
let invocations = 0;

exports.handler = async (event, context) => {
  invocations += 1;
  const fields = event !== null && typeof event === "object" && !Array.isArray(event) ? event : {};
  if (fields.fail === true) {
    throw new HelloError("asked to fail");
  }
  const name = typeof fields.name === "string" ? fields.name : "World";
  return {
    message: `Hello, ${name}!`,
    runtime: RUNTIME,
    requestId: context.awsRequestId,
    coldStart: invocations === 1,
    invocations,
  };
};
