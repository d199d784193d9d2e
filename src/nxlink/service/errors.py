"""The one exception type of the service: a contract code and a message."""

from __future__ import annotations

from nxlink.contract.codes import Code


class ApiError(Exception):
    """An answer other than success; rendered by one handler into the envelope.

    ``http_status`` is 200 for the contract's codes and tells the HTTP-level failures
    (404, 405, 413, 415, 429, 500, 503), which carry code 20000.
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        http_status: int = 200,
        problems: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        #: The problems the message joins (a 20000's one per bad field), for a caller that
        #: shows them one by one (the dashboard's CSV preview); else the message alone.
        self.problems = problems or (message,)


def business_error(problems: list[str]) -> ApiError:
    """A 20000 naming every bad field."""
    return ApiError(Code.BUSINESS_ERROR, "; ".join(problems), problems=tuple(problems))
