"""The wire: framing, codecs, crypto, endpoint state machines and the generated protocol doc."""
