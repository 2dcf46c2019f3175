// A provincial social-aid portal as a real Apollo Federation v2 subgraph (@apollo/subgraph).
// It knows who receives which aid, by NIK only; everything else about a person comes from the
// regency graph, which the router reaches through its _entities.
//
//   node subgraph.mjs --port 4001        (NIKs of the recipients in AID_NIKS, comma-separated)
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import gql from "graphql-tag";

const port = Number(process.argv[process.argv.indexOf("--port") + 1]);
const niks = (process.env.AID_NIKS || "").split(",").filter(Boolean);
const programmes = ["PKH", "BPNT", "BLT Dana Desa"];

const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  "A 16-digit Nomor Induk Kependudukan."
  scalar NIK

  type Query {
    "Everyone receiving social aid from the province."
    aidRecipients: [AidRecipient!]!
  }

  "One person's social-aid entitlement."
  type AidRecipient {
    programme: String!
    person: Person!
  }

  type Person @key(fields: "nik", resolvable: false) {
    nik: NIK!
  }
`;

const resolvers = {
  Query: {
    aidRecipients: () => niks.map((nik, i) => ({ programme: programmes[i % programmes.length], person: { nik } })),
  },
};

const server = new ApolloServer({ schema: buildSubgraphSchema({ typeDefs, resolvers }) });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port } });
console.log(`aid subgraph ready at ${url}`);
