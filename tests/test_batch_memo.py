"""config.batch: a read made once per batch, and on every call outside one."""

from config.batch import batch_memo, batch_memoized, in_batch


def test_a_batch_reads_once_per_key_and_outside_a_batch_every_time():
    reads = []

    def read(value):
        reads.append(value)
        return value

    assert batch_memoized("k", lambda: read(1)) == 1
    assert batch_memoized("k", lambda: read(2)) == 2
    assert not in_batch()
    with batch_memo():
        assert in_batch()
        assert [batch_memoized("k", lambda: read(3)), batch_memoized("k", lambda: read(4))] == [3, 3]
        assert batch_memoized("other", lambda: read(5)) == 5
        with batch_memo():  # a batch inside another starts afresh and gives the outer one back
            assert batch_memoized("k", lambda: read(6)) == 6
        assert batch_memoized("k", lambda: read(7)) == 3
    assert not in_batch()
    assert reads == [1, 2, 3, 5, 6]
