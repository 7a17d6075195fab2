"""The 64-byte magic payloads of TcpPingInterceptor and TcpFailureDetector.

Both are dropped on receipt; a node without the interceptor would try to deserialize them.
"""

from __future__ import annotations

TCP_PING_DATA = bytes.fromhex(
    "4fa7734879df43c99f6f8980a15b0714"
    "7dd9525bebdf439ab77ebe8f81671eb6"
    "3715be8745214ca8bf0a4d1353381532"
    "55f694b73adf217891047dd77284c0d5"
)

TCP_FAIL_DETECT = bytes.fromhex(
    "4fa77348798243c99f6f8980a15b0714"
    "7dd9525bebf1439ab77ebe8f81671eb6"
    "3715be87457e4ca8bf0a4d1353381532"
    "55f694b73afa407891047dd77284c0d5"
)
