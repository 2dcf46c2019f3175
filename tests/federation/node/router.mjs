// An Apollo Gateway router (@apollo/gateway) composing the regency graph with the aid subgraph
// (@apollo/composition), as a provincial portal would run it.
//
//   node router.mjs --port 4000 --satudata URL --aid URL --api-key KEY --purpose PURPOSE
// The router reads each subgraph's _service { sdl }, composes them (exit 2 on composition
// errors), and sends the regency gateway its credential and purpose on every fetch.
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { composeServices } from "@apollo/composition";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { parse } from "graphql";

const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const subgraphs = [
  { name: "satudata", url: arg("satudata") },
  { name: "aid", url: arg("aid") },
];
const credential = { "x-api-key": arg("api-key"), "x-satudata-purpose": arg("purpose") };

async function sdlOf({ name, url }) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: "{ _service { sdl } }" }),
  });
  const body = await response.json();
  if (!body.data) throw new Error(`${name}: no _service: ${JSON.stringify(body)}`);
  return { name, url, typeDefs: parse(body.data._service.sdl) };
}

const services = await Promise.all(subgraphs.map(sdlOf));
const composed = composeServices(services);
if (composed.errors) {
  console.error(composed.errors.map((e) => e.message).join("\n"));
  process.exit(2);
}

const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService: ({ name, url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request }) {
        if (name === "satudata") {
          for (const [header, value] of Object.entries(credential)) request.http.headers.set(header, value);
        }
      },
    }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(arg("port")) } });
console.log(`router ready at ${url}`);
