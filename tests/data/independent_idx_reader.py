#!/usr/bin/python3
"""Reads a Megatron indexed dataset (<prefix>.idx + <prefix>.bin) with numpy alone and prints it as JSON:

    {"dtype": "uint16", "lengths": [...], "documents": [[token, ...], ...]}

Written from the format description (little-endian):
    .idx: b"MMIDIDX\\x00\\x00", u64 version 1, u8 dtype code, u64 sequence count N, u64 document count D,
          int32 lengths[N], int64 byte pointers[N], int64 document indices[D]
    .bin: the tokens of every sequence, back to back
    dtype codes: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16
A document is the concatenation of the sequences between two consecutive document indices.
It shares no code with strand, so that the C++ tests can compare against a second reading of the bytes.

Usage: independent_idx_reader.py PREFIX
"""

import json
import sys

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def read(prefix):
    with open(prefix + ".idx", "rb") as f:
        idx = f.read()
    if len(idx) < 34 or idx[:9] != MAGIC:
        fail(f"{prefix}.idx: not an index file")
    header = np.frombuffer(idx, dtype="<u8", count=1, offset=9)
    if int(header[0]) != 1:
        fail(f"{prefix}.idx: version {int(header[0])}")
    code = idx[17]
    if code not in DTYPES:
        fail(f"{prefix}.idx: dtype code {code}")
    dtype = np.dtype(DTYPES[code]).newbyteorder("<")
    n, d = (int(x) for x in np.frombuffer(idx, dtype="<u8", count=2, offset=18))
    if len(idx) != 34 + 12 * n + 8 * d:
        fail(f"{prefix}.idx: {len(idx)} bytes for {n} sequences and {d} document indices")
    lengths = np.frombuffer(idx, dtype="<i4", count=n, offset=34)
    pointers = np.frombuffer(idx, dtype="<i8", count=n, offset=34 + 4 * n)
    doc_idx = np.frombuffer(idx, dtype="<i8", count=d, offset=34 + 12 * n)

    bin_data = np.fromfile(prefix + ".bin", dtype=np.uint8)
    sequences = []
    for length, pointer in zip(lengths.tolist(), pointers.tolist()):
        end = pointer + length * dtype.itemsize
        if pointer < 0 or end > bin_data.size:
            fail(f"{prefix}.bin: sequence at byte {pointer} of length {length} runs past the end")
        sequences.append(np.frombuffer(bin_data[pointer:end].tobytes(), dtype=dtype).tolist())
    documents = []
    for k in range(d - 1):
        tokens = []
        for s in range(int(doc_idx[k]), int(doc_idx[k + 1])):
            tokens.extend(sequences[s])
        documents.append(tokens)
    return {"dtype": np.dtype(DTYPES[code]).name, "lengths": lengths.tolist(), "documents": documents}


def main():
    if len(sys.argv) != 2:
        fail("usage: independent_idx_reader.py PREFIX")
    print(json.dumps(read(sys.argv[1])))


if __name__ == "__main__":
    main()
