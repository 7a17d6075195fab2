"""ChannelData option bits (`Channel.SEND_OPTIONS_*` and the interceptor flags)."""

from __future__ import annotations

from enum import IntFlag


class SendOptions(IntFlag):
    """Every bit Tomcat defines; unknown bits survive as plain ints in `int(options)`."""

    BYTE_MESSAGE = 0x0001
    USE_ACK = 0x0002
    SYNCHRONIZED_ACK = 0x0004
    ASYNCHRONOUS = 0x0008
    SECURE = 0x0010
    UDP = 0x0020
    MULTICAST = 0x0040
    GZIP = 0x0100  # GzipInterceptor.DEFAULT_OPTION_COMPRESSION_ENABLE


#: `Channel.SEND_OPTIONS_DEFAULT`
DEFAULT = SendOptions.USE_ACK

_WORDS = {
    "asynchronous": SendOptions.ASYNCHRONOUS,
    "async": SendOptions.ASYNCHRONOUS,
    "byte_message": SendOptions.BYTE_MESSAGE,
    "byte": SendOptions.BYTE_MESSAGE,
    "multicast": SendOptions.MULTICAST,
    "secure": SendOptions.SECURE,
    "synchronized_ack": SendOptions.SYNCHRONIZED_ACK,
    "sync": SendOptions.SYNCHRONIZED_ACK,
    "udp": SendOptions.UDP,
    "use_ack": SendOptions.USE_ACK,
}


def option_names(options: int) -> list[str]:
    """Names of the set bits, `SEND_OPTIONS_` style; unknown bits as hex."""
    names = [f.name for f in SendOptions if f.name is not None and options & f.value]
    unknown = options & ~sum(f.value for f in SendOptions)
    if unknown:
        names.append(hex(unknown))
    return names


def parse_send_options(text: str) -> int:
    """Parse `channelSendOptions` as Tomcat's `Channel.parseSendOptions` does: int or words."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    value = 0
    for word in text.split(","):
        key = word.strip().lower()
        if key not in _WORDS:
            raise ValueError(f"unknown send option {word.strip()!r}")
        value |= _WORDS[key]
    return value


def ack_before_processing(options: int) -> bool:
    """USE_ACK alone: the receiver acks as soon as the package is read."""
    return options & 0x6 == SendOptions.USE_ACK


def ack_after_processing(options: int) -> bool:
    """USE_ACK|SYNCHRONIZED_ACK: the receiver acks (or fail-acks) after processing."""
    return options & 0x6 == 0x6
