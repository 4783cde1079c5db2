"""Decodes posmate's China UnionPay (CUP) ISO 8583 messages with pyiso8583, an independent
implementation, under a CUP POS spec written here (not derived from posmate's Rust table),
and checks the MTI, TPDU + header and every field against what posmate says it encoded;
then encodes pyiso8583's reading back and expects posmate's bytes.

Reads `HEX JSON` lines on stdin (the wire bytes, 2-byte big-endian length first; the
fields as posmate put them: `t` MTI, `h` TPDU and header in hex, numeric and text fields
as strings, binary fields in hex); exits non-zero at the first disagreement.
"""

import json
import sys

import iso8583


def numeric(max_len, len_type=0):
    """n: BCD, left-padded with a zero nibble; LL/LLL lengths in BCD, counting digits."""
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": len_type,
        "max_len": max_len,
        "len_count": "nibbles",
        "left_pad": "0",
        "desc": "",
    }


def text(max_len, len_type=0):
    """an/ans: ASCII; LL/LLL lengths in BCD, counting characters."""
    return {
        "data_enc": "ascii",
        "len_enc": "bcd",
        "len_type": len_type,
        "max_len": max_len,
        "desc": "",
    }


def binary(max_len, len_type=0):
    """b: raw bytes; LLL lengths in BCD, counting bytes."""
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": len_type,
        "max_len": max_len,
        "len_count": "bytes",
        "desc": "",
    }


# The CUP POS profile (UnionPay POS terminal specification), fields used by the
# management messages and transactions. len_type: 0 fixed, 1 LLVAR, 2 LLLVAR (BCD bytes).
CUP = {
    # TPDU (60, destination, source) and the 6-byte header, read as 11 raw bytes.
    "h": binary(11),
    "t": {"data_enc": "b", "len_enc": "ascii", "len_type": 0, "max_len": 2, "desc": "MTI"},
    "p": binary(8),
    "s": binary(8),
    "2": numeric(19, 1),
    "3": numeric(6),
    "4": numeric(12),
    "11": numeric(6),
    "12": numeric(6),
    "13": numeric(4),
    "14": numeric(4),
    "15": numeric(4),
    "22": numeric(3),
    "23": numeric(3),
    "25": numeric(2),
    "26": numeric(2),
    "32": numeric(11, 1),
    "35": numeric(37, 1),  # z: BCD, separator nibble D
    "36": numeric(104, 2),
    "37": text(12),
    "38": text(6),
    "39": text(2),
    "41": text(8),
    "42": text(15),
    "44": text(25, 1),
    "48": numeric(322, 2),
    "49": text(3),
    "52": binary(8),
    "53": numeric(16),
    "54": text(20, 2),
    "55": binary(255, 2),
    "60": numeric(17, 2),
    "61": numeric(29, 2),
    "62": binary(512, 2),
    "63": text(163, 2),
    "64": binary(8),
}


def main() -> int:
    checked = 0
    mtis = {}
    for number, line in enumerate(sys.stdin, 1):
        wire_hex, expected = line.split(" ", 1)
        wire = bytes.fromhex(wire_hex)
        expected = json.loads(expected)
        length = int.from_bytes(wire[:2], "big")
        if length != len(wire) - 2:
            print(f"message {number}: length prefix {length}, {len(wire) - 2} bytes follow")
            return 1
        body = wire[2:]
        try:
            decoded, _ = iso8583.decode(body, CUP)
        except (iso8583.DecodeError, KeyError) as e:
            print(f"message {number} ({expected.get('t')}): pyiso8583 cannot decode it: {e}")
            return 1
        got = {k: v for k, v in decoded.items() if k not in ("p", "s")}
        if got != expected:
            keys = sorted(set(got) | set(expected), key=lambda k: (len(k), k))
            for k in keys:
                if got.get(k) != expected.get(k):
                    print(
                        f"message {number} ({expected.get('t')}): field {k}: pyiso8583 reads "
                        f"{got.get(k)!r}, posmate encoded {expected.get(k)!r}"
                    )
            return 1
        if not decoded["h"].startswith("60"):
            print(f"message {number}: TPDU ID {decoded['h'][:2]}, expected 60")
            return 1
        again, _ = iso8583.encode(dict(got), CUP)
        if bytes(again) != body:
            print(
                f"message {number} ({expected['t']}): pyiso8583 encodes {bytes(again).hex()}, "
                f"posmate {body.hex()}"
            )
            return 1
        mtis[expected["t"]] = mtis.get(expected["t"], 0) + 1
        checked += 1
    for mti in ("0800", "0810", "0500", "0510", "0320", "0330", "0820"):
        if mti not in mtis:
            print(f"no {mti} message among posmate's")
            return 1
    print(
        f"pyiso8583 decoded all {checked} CUP ISO 8583 messages (management: "
        + ", ".join(f"{m}\u00d7{mtis[m]}" for m in ("0800", "0810", "0500", "0510", "0320", "0330", "0820"))
        + "); MTIs, headers and fields agree, and re-encode to posmate's bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
