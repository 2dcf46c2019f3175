// Runs operations with the real graphql-ws or graphql-sse client and prints what each one got,
// one JSON object per line, for tests/gateway/test_subscriptions_npm_clients.py:
//   {"sub": i, "next": payload} | {"sub": i, "error": ...} | {"sub": i, "complete": true} | {"closed": {code, reason}}
// Usage: node client.mjs --transport ws|sse --url URL [--headers JSON] --query Q [--variables JSON]
//        [--count N] [--events N] [--timeout S] [--pause-ms MS]
// --count subscribes N times (one socket for ws, N streams for sse); --events ends after that many
// `next` in all; --pause-ms makes every `next` handler wait that long (a slow subscriber).
import { createClient as createWsClient } from "graphql-ws";
import { createClient as createSseClient } from "graphql-sse";
import WebSocket from "ws";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, value, index, all) => {
    if (value.startsWith("--")) pairs.push([value.slice(2), all[index + 1]]);
    return pairs;
  }, []),
);
const headers = args.headers ? JSON.parse(args.headers) : {};
const variables = args.variables ? JSON.parse(args.variables) : undefined;
const count = Number(args.count ?? 1);
const wantEvents = Number(args.events ?? 1);
const timeoutMs = Number(args.timeout ?? 20) * 1000;
const pauseMs = Number(args["pause-ms"] ?? 0);

const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
let events = 0;
let finished = 0;
let client;

function done(code = 0) {
  try {
    client?.dispose?.();
  } catch {}
  setTimeout(() => process.exit(code), 50);
}

function describe(error) {
  if (Array.isArray(error)) return error; // GraphQL errors
  if (error && typeof error.code === "number") return { code: error.code, reason: error.reason }; // CloseEvent
  if (error instanceof Error) return { message: error.message };
  return error;
}

if (args.transport === "ws") {
  client = createWsClient({
    url: args.url,
    webSocketImpl: WebSocket,
    connectionParams: headers,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { closed: (event) => print({ closed: { code: event.code, reason: event.reason } }) },
  });
} else {
  client = createSseClient({ url: args.url, headers, singleConnection: false, retryAttempts: 0 });
}

for (let sub = 0; sub < count; sub++) {
  client.subscribe(
    { query: args.query, variables },
    {
      next: async (payload) => {
        if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
        print({ sub, next: payload });
        if (++events >= wantEvents) done();
      },
      error: (error) => {
        print({ sub, error: describe(error) });
        if (++finished >= count) done();
      },
      complete: () => {
        print({ sub, complete: true });
        if (++finished >= count) done();
      },
    },
  );
}
print({ started: count });
setTimeout(() => {
  print({ timeout: true });
  done(0);
}, timeoutMs);
