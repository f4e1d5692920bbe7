"""The base of the library's own errors, so that a caller can catch them all in one clause.

Each error keeps the built-in base its callers already catch (ValueError, RuntimeError), so
`except ValueError` and `except DigestError` both still see a ConfigError-like failure.
"""


class DigestError(Exception):
    """Something the digest library reports about its input or its work; the message says what and where."""
