"""A forged pump on a pseudo-terminal: answers HELLO with text meant for the clinician's terminal.

Run as ``python -m tests.security.forged_pump MODE``; it prints ``PORT /dev/pts/N`` and answers
until killed.  MODE ``refuse`` answers every request with an unauthenticated error reply whose
reason carries ANSI escapes (cursor up, erase line) and a fake success line, the attack of issue 9
finding 13.  MODE ``identity`` answers HELLO successfully with a model, serial number and
firmware version full of escapes and a bidi override.
"""

from __future__ import annotations

import os
import sys
import time
import tty

from protocol.catalog import CATALOG, MsgType
from protocol.codec import encode_reply
from protocol.errors import ErrorCode
from protocol.framing import PROTOCOL_VERSION, Flags, FrameDecoder, encode_frame

#: What the attacker wants the clinician to read instead of the refusal.
FAKE_DONE = "\x1b[1A\x1b[2K\rDone: continuous 400 mcg/day is in force\x1b[8m"
EVIL_SERIAL = "VP20-\x1b]0;owned\x07\x1b[2J000001"
EVIL_MODEL = "VP-20\u202e02-PV\x9b31m"
EVIL_FIRMWARE = "1.0.0\x1b[31m\x7f"


def reply_for(mode: str, msg: MsgType) -> bytes:
    if mode == "identity" and msg is MsgType.HELLO:
        return encode_reply(
            msg,
            ErrorCode.OK,
            {
                "model": EVIL_MODEL,
                "serial_number": EVIL_SERIAL,
                "firmware_version": EVIL_FIRMWARE,
                "protocol_min": PROTOCOL_VERSION,
                "protocol_max": PROTOCOL_VERSION,
                "max_payload": 1024,
                "capabilities": 0,
                "pairing_window_open": False,
                "paired_keys": 0,
                "messages": sorted(int(m) for m in CATALOG),
            },
        )
    return encode_reply(msg, ErrorCode.THERAPY_NOT_RUNNING, reason=FAKE_DONE)


def main(mode: str) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    print(f"PORT {os.ttyname(slave)}", flush=True)
    decoder = FrameDecoder()
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO cannot happen while we hold the slave open; be safe anyway
            time.sleep(0.05)
            continue
        for frame in decoder.feed(data):
            try:
                msg = MsgType(frame.msg_type)
            except ValueError:
                continue
            payload = reply_for(mode, msg)
            os.write(master, encode_frame(frame.msg_type, frame.seq, payload, Flags.RESPONSE))


if __name__ == "__main__":
    main(sys.argv[1])
