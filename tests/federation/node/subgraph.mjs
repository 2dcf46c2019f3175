// A provincial portal as a real Apollo Federation v2 subgraph (@apollo/subgraph).
// - Social aid: it knows who receives which aid, by NIK only; everything else about a person
//   comes from the regency graph, which a router reaches through the regency's _entities.
// - Health insurance: its Person (by NIK) carries a JKN membership, which the regency gateway
//   federates in through this subgraph's own _entities.
//
//   node subgraph.mjs --port 4001        (NIKs of the aid recipients in AID_NIKS, comma-separated)
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

  "A calendar date, ISO 8601."
  scalar Date

  enum JknStatus { AKTIF NONAKTIF }
  enum JknSegment { PBI_APBN PBI_APBD PPU PBPU BP }

  "A JKN (BPJS Kesehatan) membership."
  type JknMembership {
    cardNumber: String!
    status: JknStatus!
    segment: JknSegment!
    careClass: Int
    primaryCare: String
    since: Date!
  }

  type Person @key(fields: "nik") {
    nik: NIK!
    jkn: JknMembership
  }
`;

// Deterministic per NIK, so a test can compute what the portal says: no membership when the
// NIK's last digit is 7; PBI (state-paid, no care class) when it is even.
function membership(nik) {
  const last = Number(nik.at(-1));
  if (last === 7) return null;
  const pbi = last % 2 === 0;
  return {
    cardNumber: "0001" + nik.slice(-9),
    status: last === 9 ? "NONAKTIF" : "AKTIF",
    segment: pbi ? "PBI_APBN" : "PBPU",
    careClass: pbi ? null : 1 + (last % 3),
    primaryCare: "Puskesmas " + nik.slice(4, 6),
    since: "2020-01-" + String(10 + last),
  };
}

const resolvers = {
  Person: {
    __resolveReference: ({ nik }) => (/^[0-9]{16}$/.test(nik) ? { nik } : null),
    jkn: ({ nik }) => membership(nik),
  },
  Query: {
    aidRecipients: () => niks.map((nik, i) => ({ programme: programmes[i % programmes.length], person: { nik } })),
  },
};

const server = new ApolloServer({ schema: buildSubgraphSchema({ typeDefs, resolvers }) });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port } });
console.log(`aid subgraph ready at ${url}`);
