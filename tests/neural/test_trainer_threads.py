"""Side effects on the process: torch's thread count is scoped and shared safely between
threads, and the neural path draws from seeded generators of its own, never from torch's
or numpy's global ones, so that two threads training at once do not disturb each other."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.neural._trainer import cpu_threads

#: How long a test waits for another thread before calling it stuck.
WAIT = 60.0


@pytest.fixture
def two_threads():
    """torch set to two intra-op threads for the test (a count the library's one differs
    from), the caller's count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def _count_in_a_fresh_thread() -> int:
    """The count a thread started now runs with (torch gives new threads the last count set)."""
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join(WAIT)
    return seen[0]


def _train(seed: int, x: np.ndarray, y: np.ndarray) -> tuple[float, torch.Tensor]:
    result = dv.wasserstein_dual(x, y, seed=seed, steps=50, device="cpu")
    with torch.no_grad():
        outputs = result.critic(torch.as_tensor(x[:64]))
    return result.distance, outputs


def test_two_threads_training_at_once_give_the_results_of_one_after_the_other(two_threads):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    y = rng.normal(size=(300, 2)) + np.array([1.0, 0.0])
    seeds = (0, 1)
    alone = {seed: _train(seed, x, y) for seed in seeds}
    assert torch.get_num_threads() == two_threads

    together: dict[int, tuple[float, torch.Tensor]] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(len(seeds))

    def run(seed: int) -> None:
        try:
            start.wait(WAIT)
            together[seed] = _train(seed, x, y)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 5)
    assert not failures, failures
    assert sorted(together) == list(seeds)
    for seed in seeds:
        assert together[seed][0] == alone[seed][0]  # bit-identical distance
        assert torch.equal(together[seed][1], alone[seed][1])  # and critic
    assert alone[0][0] != alone[1][0]  # the seeds matter: the comparison is not vacuous
    assert torch.get_num_threads() == two_threads
    assert _count_in_a_fresh_thread() == two_threads


def test_overlapping_holders_share_the_count_and_the_last_restores_the_callers(two_threads):
    """A enters, B enters, A leaves, B leaves: both run on one thread, and the count
    threads inherit afterwards is the caller's again, not the one B found on entering."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def first() -> None:
        with cpu_threads(1):
            seen["a"] = torch.get_num_threads()
            a_in.set()
            b_in.wait(WAIT)
        a_out.set()

    def second() -> None:
        a_in.wait(WAIT)
        with cpu_threads(1):
            seen["b"] = torch.get_num_threads()
            b_in.set()
            a_out.wait(WAIT)
            seen["b after a left"] = torch.get_num_threads()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert seen == {"a": 1, "b": 1, "b after a left": 1}
    assert torch.get_num_threads() == two_threads
    assert _count_in_a_fresh_thread() == two_threads


def test_a_thread_that_first_used_torch_inside_a_hold_does_not_leave_that_count_behind(
    two_threads,
):
    """B first uses torch while A holds one thread (so B's own count is 1). A leaves; B
    enters, A enters again, B leaves, A leaves last: A has its own count back, and threads
    started afterwards take the caller's count, not the 1 B found on entering."""
    names = ("a held", "b read", "a out", "b in", "a in", "b out")
    step = {name: threading.Event() for name in names}
    seen: dict[str, int] = {}

    def first() -> None:
        seen["a before"] = torch.get_num_threads()
        with cpu_threads(1):
            step["a held"].set()
            seen["a inside"] = torch.get_num_threads()
            step["b read"].wait(WAIT)
        step["a out"].set()
        step["b in"].wait(WAIT)
        with cpu_threads(1):
            step["a in"].set()
            step["b out"].wait(WAIT)
        seen["a after"] = torch.get_num_threads()

    def second() -> None:
        step["a held"].wait(WAIT)
        seen["b first"] = torch.get_num_threads()  # taken inside A's hold
        step["b read"].set()
        step["a out"].wait(WAIT)
        with cpu_threads(1):
            step["b in"].set()
            step["a in"].wait(WAIT)
        step["b out"].set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert seen["b first"] == 1  # the situation this test is about
    assert seen["a before"] == seen["a after"] == two_threads
    assert seen["a inside"] == 1
    assert torch.get_num_threads() == two_threads
    assert _count_in_a_fresh_thread() == two_threads


def test_a_call_that_wants_another_count_waits_for_the_holders_to_leave(two_threads):
    held, release = threading.Event(), threading.Event()
    events: list[str] = []

    def holder() -> None:
        with cpu_threads(1):
            held.set()
            release.wait(WAIT)
            events.append("holder leaves")

    def other() -> None:
        torch.get_num_threads()  # torch's count for this thread, taken before the hold
        held.wait(WAIT)
        with cpu_threads(3):
            events.append(f"other runs on {torch.get_num_threads()}")

    threads = [threading.Thread(target=other), threading.Thread(target=holder)]
    threads[0].start()
    threads[0].join(0.2)
    threads[1].start()
    held.wait(WAIT)
    threads[0].join(0.5)
    assert threads[0].is_alive()  # waiting, not changing the holder's count under it
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert events == ["holder leaves", "other runs on 3"]
    assert _count_in_a_fresh_thread() == two_threads


def test_a_nested_block_runs_with_the_outer_count_and_the_setting_comes_back(two_threads):
    with cpu_threads(1):
        with cpu_threads(3):  # the same thread: no wait for itself
            assert torch.get_num_threads() == 1
        with cpu_threads(None):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == two_threads
    with cpu_threads(None):
        assert torch.get_num_threads() == two_threads


def test_the_estimators_leave_the_global_generators_alone(monkeypatch):
    """Seeded torch.Generators only: torch's and numpy's global generators are neither
    seeded nor advanced (another thread may be drawing from them)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the global torch generator was seeded")

    monkeypatch.setattr(torch, "manual_seed", forbidden)
    monkeypatch.setattr(torch.random, "manual_seed", forbidden)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002 - the legacy global state is the point
    first = dv.wasserstein_dual(x, x + 1, seed=0, steps=20, device="cpu")
    dv.js_dual_batch(x, [x, x + 1], seed=0, steps=20, device="cpu")
    dv.wasserstein_dual(x, x + 1, steps=20, device="cpu")  # unseeded: the OS's entropy
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002 - the legacy global state is the point
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    # and the global generator's state does not reach a seeded result
    torch.random.default_generator.manual_seed(12345)
    again = dv.wasserstein_dual(x, x + 1, seed=0, steps=20, device="cpu")
    assert again.distance == first.distance
