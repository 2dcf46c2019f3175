// Runs the operations in ./operations through the real Apollo Client and its persisted queries link,
// twice each, against a GraphQL endpoint, and prints what it got as one JSON object on stdout.
//
//   node client.mjs --url http://127.0.0.1:PORT/graphql [--get] [--manifest FILE] [--header NAME=VALUE]...
//
// Without --manifest the link hashes each document itself (automatic persisted queries, node's
// crypto for SHA-256); with --manifest it sends the ids of Apollo's persisted query manifest
// (@apollo/persisted-query-lists), as an app with trusted documents does. --get sets
// useGETForHashedQueries.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { parseArgs } from "node:util";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    get: { type: "boolean", default: false },
    manifest: { type: "string" },
    header: { type: "string", multiple: true, default: [] },
  },
});

const headers = Object.fromEntries(values.header.map((h) => h.split(/=(.*)/s).slice(0, 2)));
// Every document the link hashed, with its hash: what the gateway must have registered.
const hashed = [];
const sha256 = (text) => {
  const hash = createHash("sha256").update(text).digest("hex");
  hashed.push({ hash, document: text });
  return hash;
};
const ids = values.manifest
  ? generatePersistedQueryIdsFromManifest({ loadManifest: () => JSON.parse(readFileSync(values.manifest, "utf8")) })
  : { sha256 };
const persisted = createPersistedQueryLink({ ...ids, useGETForHashedQueries: values.get });
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: persisted.concat(new HttpLink({ uri: values.url, headers })),
});

const variables = { Region: { code: "35.03.08" } };
const results = [];
for (const file of readdirSync(new URL("./operations/", import.meta.url)).sort()) {
  const query = gql(readFileSync(new URL(`./operations/${file}`, import.meta.url), "utf8"));
  const name = query.definitions.find((d) => d.kind === "OperationDefinition").name.value;
  for (const round of [1, 2]) {
    try {
      const { data } = await client.query({ query, variables: variables[name], fetchPolicy: "network-only" });
      results.push({ operation: name, round, data });
    } catch (error) {
      results.push({ operation: name, round, error: String(error?.message ?? error) });
    }
  }
}
console.log(JSON.stringify({ results, hashed }));
