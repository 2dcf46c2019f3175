// graphql-http's audits of a GraphQL-over-HTTP server (the spec's MUSTs and SHOULDs), as JSON lines.
// Usage: node audit_http.mjs URL
import { auditServer } from 'graphql-http';

const results = await auditServer({ url: process.argv[2] });
for (const r of results) {
  console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason ?? null }));
}
