"""Database URLs as people see them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: A libpq ``password`` parameter in a URL's query.
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)password=)[^&]*")


def masked(url: str) -> str:
    """``url`` fit to print: a password in it (``user:password@``, or a ``password=``
    parameter) becomes ``***``."""
    parts = urlsplit(url)
    query = _QUERY_PASSWORD.sub(r"\1***", parts.query)
    if parts.password is None and query == parts.query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))
