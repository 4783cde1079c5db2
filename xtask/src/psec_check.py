"""Opens posmate's TR-31 key blocks with psec, an independent implementation, and checks
the keys and AES key check values (CMAC of the zero block, 3 bytes) against posmate's.

Reads `KBPK BLOCK KEY KCV` lines (hex; KCV `-` when posmate printed none) on stdin; exits
non-zero at the first disagreement.
"""

import sys

import psec
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC


def aes_kcv(key: bytes) -> str:
    mac = CMAC(algorithms.AES(key))
    mac.update(bytes(16))
    return mac.finalize()[:3].hex().upper()


def main() -> int:
    checked = 0
    for number, line in enumerate(sys.stdin, 1):
        kbpk, block, key, kcv = line.split()
        header, opened = psec.tr31.unwrap(bytes.fromhex(kbpk), block)
        if opened.hex().upper() != key:
            print(f"block {number}: psec opens {opened.hex()}, posmate wrapped {key}")
            return 1
        fields = (
            header.version_id
            + block[1:5]
            + header.key_usage
            + header.algorithm
            + header.mode_of_use
            + header.version_num
            + header.exportability
        )
        if fields != block[:12] or ("KS" in header.blocks) != ("KS" in block[16:32]):
            print(f"block {number}: psec reads the header as {header}")
            return 1
        if kcv != "-" and aes_kcv(opened) != kcv:
            print(f"block {number}: KCV {aes_kcv(opened)} by CMAC, posmate says {kcv}")
            return 1
        checked += 1
    if checked == 0:
        print("no key blocks to check")
        return 1
    print(f"psec {psec.__version__} opened all {checked} key blocks; keys and KCVs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
