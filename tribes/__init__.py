"""pytribes: Apache Tomcat's Tribes cluster protocol in Python.

The codec layers (`tribes.wire`, `tribes.jserial`, `tribes.messages`) are sans-io: bytes in,
objects out, no sockets and no clock.  `tribes.net` is the trio I/O shell on top.
"""

__version__ = "0.1.0"
