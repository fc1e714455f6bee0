// Consumes a batch of order messages. An order with a negative amount fails: it is
// reported in batchItemFailures, so only it returns to the queue (and, after
// maxReceiveCount receipts, goes to the dead-letter queue); the others are done.
"use strict";

exports.handler = async (event) => {
  const batchItemFailures = [];
  let total = 0;
  for (const record of event.Records) {
    let order;
    try {
      order = JSON.parse(record.body);
    } catch (err) {
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    if (typeof order.amount !== "number" || order.amount < 0) {
      console.log(`rejecting order ${record.messageId}: amount ${order.amount}`);
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    total += order.amount;
  }
  console.log(`processed ${event.Records.length - batchItemFailures.length} order(s), total ${total}`);
  return { batchItemFailures };
};
