"""Random bytes for request ids and tokens: drawn in blocks, each byte handed out once."""

from __future__ import annotations

import os

from serving.router import entropy


def test_bytes_are_never_handed_out_twice_across_blocks() -> None:
    taken = [entropy.token_bytes(16) for _ in range(3 * entropy.BLOCK // 16 + 7)]
    assert all(len(t) == 16 for t in taken)
    assert len(set(taken)) == len(taken)  # 128-bit values: a repeat means a reused slice
    big = entropy.token_bytes(entropy.BLOCK + 1)  # more than a block at once
    assert len(big) == entropy.BLOCK + 1


def test_a_forked_child_does_not_repeat_its_parents_bytes() -> None:
    entropy.token_bytes(16)  # the parent holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes, to the parent
        os.close(read)
        os.write(write, entropy.token_bytes(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child != entropy.token_bytes(16)  # the parent's next slice, not the child's
