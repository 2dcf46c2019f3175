"""What several test packages share: real peers and servers, not assertions.

- ``server``: an ASGI app on uvicorn in a daemon thread, on a real socket (``serve_in_thread``,
  ``serve_app``, ``free_port``).
- ``faultproxy``: a TCP/HTTP proxy that injects faults between a client and a real upstream.
- ``graphql_peer``: another portal's GraphQL API, for the remote GraphQL connector.
"""
