// Subscribes to a Yellowstone endpoint (e.g. `solflow serve X.capture`) with the official
// TypeScript client, @triton-one/yellowstone-grpc, and prints one JSON line with what it received
// once the server ends the stream. It sends the request shape of the upstream examples: every map
// field present, so a server must skip the ones its schema lacks (accounts, blocks, entry, ...).
//
// usage: node count_transactions.mjs http://127.0.0.1:PORT   (x-token from $X_TOKEN, if set)
import Client, { CommitmentLevel } from "@triton-one/yellowstone-grpc";

const endpoint = process.argv[2];
if (!endpoint) {
  console.error("usage: node count_transactions.mjs http://HOST:PORT");
  process.exit(2);
}

const request = {
  accounts: { unused_accounts: { account: [], owner: [], filters: [] } },
  slots: {},
  transactions: {
    all: { accountInclude: [], accountExclude: [], accountRequired: [] },
  },
  transactionsStatus: {},
  blocks: { unused_blocks: { accountInclude: [] } },
  blocksMeta: { block_meta: {} },
  entry: { unused_entries: {} },
  accountsDataSlice: [],
  commitment: CommitmentLevel.PROCESSED,
};

function fail(what, error) {
  const cause = error?.cause?.message ?? "";
  console.error(`${what}: ${error?.message ?? error}${cause ? ` (${cause})` : ""}`);
  process.exit(1);
}

const client = new Client(endpoint, process.env.X_TOKEN || undefined, {
  grpcMaxDecodingMessageSize: 64 * 1024 * 1024,
});
let version;
let stream;
try {
  await client.connect();
  version = JSON.parse((await client.getVersion()).version);
  stream = await client.subscribe();
} catch (error) {
  fail(`cannot subscribe to ${endpoint}`, error);
}

const counts = { transactions: 0, block_metas: 0, pings: 0, other: 0 };
const signatures = new Set();
let lastSlot = null;

stream.on("data", (update) => {
  if (update.transaction) {
    counts.transactions += 1;
    signatures.add(Buffer.from(update.transaction.transaction.signature).toString("hex"));
    lastSlot = update.transaction.slot;
  } else if (update.blockMeta) {
    counts.block_metas += 1;
  } else if (update.ping) {
    counts.pings += 1;
  } else {
    counts.other += 1;
  }
});
stream.on("error", (error) => fail("stream failed", error));
stream.on("end", () => {
  const report = {
    ...counts,
    unique_signatures: signatures.size,
    last_slot: lastSlot,
    server_package: version.version.package,
  };
  console.log(JSON.stringify(report));
  process.exit(0);
});

stream.write(request, (error) => {
  if (error) {
    fail("subscribe request failed", error);
  }
});
