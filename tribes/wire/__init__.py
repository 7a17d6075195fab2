"""Sans-io Tribes wire format: packages, acks, ChannelData, MemberImpl, option flags."""

from .channel_data import (
    ChannelData,
    decode_channel_data,
    encode_channel_data,
    frame_channel_data,
    new_unique_id,
)
from .framing import (
    ACK,
    ACK_DATA,
    DEFAULT_MAX_PACKAGE,
    FAIL_ACK,
    FAIL_ACK_DATA,
    FrameDecoder,
    encode_package,
)
from .member import (
    SHUTDOWN_COMMAND,
    Member,
    decode_member,
    encode_member,
    format_unique_id,
    parse_unique_id,
)
from .options import SendOptions, option_names, parse_send_options
from .probes import TCP_FAIL_DETECT, TCP_PING_DATA

__all__ = [
    "ACK",
    "ACK_DATA",
    "DEFAULT_MAX_PACKAGE",
    "FAIL_ACK",
    "FAIL_ACK_DATA",
    "SHUTDOWN_COMMAND",
    "TCP_FAIL_DETECT",
    "TCP_PING_DATA",
    "ChannelData",
    "FrameDecoder",
    "Member",
    "SendOptions",
    "decode_channel_data",
    "decode_member",
    "encode_channel_data",
    "encode_member",
    "encode_package",
    "format_unique_id",
    "frame_channel_data",
    "new_unique_id",
    "option_names",
    "parse_send_options",
    "parse_unique_id",
]
