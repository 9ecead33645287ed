"""The PL/Proxy body language: scanner, parser and the AST they produce."""
