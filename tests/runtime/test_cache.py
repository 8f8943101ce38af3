"""runtime.cache: load once per (group, key), the least recently used group leaves first, parts stay together."""
import threading

from skysift.runtime.cache import ExecutorCache


def test_loads_once_and_evicts_whole_groups():
    cache = ExecutorCache(max_groups=2)
    loads = []

    def loader(tag):
        def load():
            loads.append(tag)
            return tag
        return load

    assert cache.get("kb-a", 0, loader("a0")) == "a0"
    assert cache.get("kb-a", 1, loader("a1")) == "a1"
    assert cache.get("kb-a", 0, loader("again")) == "a0"  # cached
    cache.get("kb-b", 0, loader("b0"))
    cache.get("kb-a", 0, loader("again"))  # a is now the most recent
    cache.get("kb-c", 0, loader("c0"))  # evicts b, the least recent, with all its parts
    assert cache.groups() == ["kb-a", "kb-c"]
    assert loads == ["a0", "a1", "b0", "c0"]
    assert cache.get("kb-b", 0, loader("b0 reloaded")) == "b0 reloaded"
    assert cache.groups() == ["kb-c", "kb-b"]


def test_one_group_by_default_and_clear():
    cache = ExecutorCache()
    cache.get("model-1", "cpu", lambda: 1)
    cache.get("model-1", "cuda", lambda: 2)
    assert cache.groups() == ["model-1"]
    cache.get("model-2", "cpu", lambda: 3)
    assert cache.groups() == ["model-2"]
    cache.clear()
    assert cache.groups() == []


def test_concurrent_getters_see_one_value():
    cache = ExecutorCache()
    seen = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        seen.append(cache.get("g", "k", lambda: object()))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # two threads may both load (the loader runs outside the lock), but the cache keeps one value
    assert cache.get("g", "k", lambda: None) in seen
