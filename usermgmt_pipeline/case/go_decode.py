"""Transitional alias of `case.document_fields`, for `tasks/notify_flow.py` while it is being rewritten.

Delete this module once notify_flow imports `GoDecodeError` and `go_int` from `case.document_fields`.
"""

from usermgmt_pipeline.case.document_fields import GoDecodeError, go_int

__all__ = ["GoDecodeError", "go_int"]
