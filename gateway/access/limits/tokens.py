"""Count a document's lexical tokens without parsing it."""

from __future__ import annotations

from graphql import GraphQLSyntaxError, Lexer, Source, TokenKind


def count_tokens(query: str, *, stop_after: int) -> int:
    """Lexical tokens in ``query``, comments included, counting no further than ``stop_after + 1``.

    Parsing a huge document is itself the attack, so this runs graphql-core's lexer alone: no
    AST, no token list kept (each token is read from the end of the last and dropped), and it
    stops one token past the limit, so a 1 MB document costs what ``stop_after`` tokens cost.
    A lexical error ends the count; the parser reports it afterwards as a syntax error.

    (``graphql.parse(max_tokens=...)`` would also stop, but with a syntax error rather than a
    limit refusal, after building the AST up to the limit, and per role only through
    strawberry's per-request ``parse_options``.)
    """

    lexer = Lexer(Source(query))
    token = lexer.token
    count = 0
    try:
        while count <= stop_after:
            token = lexer.read_next_token(token.end)
            if token.kind is TokenKind.EOF:
                break
            count += 1
    except GraphQLSyntaxError:
        pass
    return count
