"""The short in-process cache behind admin-key and mode-settings lookups (kit/ttlcache.py)."""

from roost.kit.ttlcache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_its_seconds_and_no_longer():
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, clock=clock)
    assert cache.get("a") is None
    cache.put("a", 1)
    clock.now += 0.999
    assert cache.get("a") == 1
    clock.now += 0.001
    assert cache.get("a") is None


def test_forget_drops_the_entry_and_refuses_the_old_value_for_a_while():
    # A request that read the row just before a revocation committed must not cache it again.
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, clock=clock)
    cache.put("a", 1)
    cache.forget("a")
    assert cache.get("a") is None
    cache.put("a", 1)
    assert cache.get("a") is None
    clock.now += 1.0
    cache.put("a", 2)
    assert cache.get("a") == 2


def test_forget_leaves_other_keys_alone():
    cache: TtlCache[str, int] = TtlCache(1.0, clock=Clock())
    cache.put("a", 1)
    cache.put("b", 2)
    cache.forget("a")
    assert (cache.get("a"), cache.get("b")) == (None, 2)


def test_a_full_cache_starts_over_instead_of_growing():
    cache: TtlCache[int, int] = TtlCache(1.0, max_entries=3, clock=Clock())
    for key in range(3):
        cache.put(key, key)
    cache.put(3, 3)
    assert [cache.get(key) for key in range(4)] == [None, None, None, 3]
