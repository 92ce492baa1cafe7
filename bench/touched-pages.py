#!/usr/bin/python3
"""touched-pages: which pages of an entry copy's `mem` a guest touched (bench/working-set.sh).

usage: touched-pages.py COPY STOP

Until the file STOP exists, every 0.2 s, the pages of COPY/mem mapped into any process
(QEMU maps it privately: /proc/PID/maps, then /proc/PID/pagemap, present or swapped) are
OR-ed into a bitmap; then it prints those pages, and the chunks of mem that hold them (from
COPY/metadata.json: what a chunk-by-chunk lazy restore fetches), against mem's size and its
allocated (non-zero) part. Mapped pages, not the page cache: a lookup's verification reads
all of mem, the guest only part of it. Needs root.
"""
import json
import os
import sys
import time

copy, stop = sys.argv[1], sys.argv[2]
mem = os.path.realpath(os.path.join(copy, "mem"))
size = os.path.getsize(mem)
allocated = os.stat(mem).st_blocks * 512
page = os.sysconf("SC_PAGE_SIZE")
touched = bytearray((size + page - 1) // page)


def sample():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8") as f:
                maps = f.read().splitlines()
        except OSError:
            continue
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) < 6 or parts[5].replace(" (deleted)", "") != mem:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            first = int(parts[2], 16) // page
            try:
                with open(f"/proc/{pid}/pagemap", "rb") as f:
                    f.seek(lo // page * 8)
                    data = f.read((hi - lo) // page * 8)
            except OSError:
                continue
            for i in range(len(data) // 8):
                # bit 63: present, bit 62: swapped
                if data[8 * i + 7] & 0xC0 and first + i < len(touched):
                    touched[first + i] = 1


while not os.path.exists(stop):
    sample()
    time.sleep(0.2)
sample()
pages = sum(touched)
with open(os.path.join(copy, "metadata.json"), encoding="utf-8") as f:
    chunks = json.load(f)["files"]["mem"]["chunks"]
off = fetched = 0
seen = set()
for h, n in chunks:
    if h not in seen and any(touched[off // page:(off + n - 1) // page + 1]):
        seen.add(h)
        fetched += n
    off += n
MIB = 1 << 20
print(f"  pages the guest touched: {pages * page / MIB:.1f} MiB ({100 * pages * page / size:.1f} % of "
      f"mem's {size / MIB:.0f} MiB, {100 * pages * page / allocated:.1f} % of its {allocated / MIB:.1f} MiB "
      f"not zeros)")
print(f"  chunks holding them: {len(seen)} of {len(set(h for h, _ in chunks))}, {fetched / MIB:.1f} MiB "
      f"({100 * fetched / size:.1f} % of mem, {100 * fetched / allocated:.1f} % of its non-zero part)")
