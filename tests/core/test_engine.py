import asyncio
import logging

import pytest

from cryptobot.core.actor import Actor, Supervision
from cryptobot.core.engine import MAX_RESTARTS, Engine
from cryptobot.core.errors import ActorStopped, Conflict, NotFound


class Recorder(Actor):
    def __init__(self, name="recorder", **attrs):
        super().__init__(name)
        self.seen = []
        for key, value in attrs.items():
            setattr(self, key, value)

    def on_message(self, message):
        self.seen.append(message)


class Forwarder(Actor):
    def __init__(self, name, target):
        super().__init__(name)
        self.target = target

    def on_message(self, message):
        self.send(self.target, message)


class Quote:
    def __init__(self, symbol, price):
        self.symbol = symbol
        self.price = price


async def settle(engine):
    for cell in list(engine._cells.values()):
        await cell.drained()


async def test_messages_arrive_in_order():
    engine = Engine()
    actor = Recorder()
    ref = await engine.spawn(actor)
    for i in range(1000):
        ref.tell(i)
    await settle(engine)
    assert actor.seen == list(range(1000))


async def test_async_handler_handles_one_message_at_a_time():
    events = []

    class Slow(Actor):
        async def on_message(self, message):
            events.append(("start", message))
            await asyncio.sleep(0.001)
            events.append(("end", message))

    engine = Engine()
    ref = await engine.spawn(Slow("slow"))
    for i in range(3):
        ref.tell(i)
    await settle(engine)
    assert events == [("start", 0), ("end", 0), ("start", 1), ("end", 1), ("start", 2), ("end", 2)]


async def test_forwarding_through_actors_keeps_order():
    engine = Engine()
    sink = Recorder("sink")
    sink_ref = await engine.spawn(sink)
    middle = await engine.spawn(Forwarder("middle", sink_ref))
    for i in range(500):
        middle.tell(i)
    await settle(engine)
    await settle(engine)
    assert sink.seen == list(range(500))


async def test_send_to_stopped_actor_raises():
    engine = Engine()
    ref = await engine.spawn(Recorder())
    await engine.stop_actor("recorder")
    with pytest.raises(ActorStopped, match="Cannot send int to actor 'recorder': it is stopped"):
        ref.tell(1)


async def test_lookup_of_unknown_actor_raises_not_found():
    engine = Engine()
    with pytest.raises(NotFound, match="no running actor named 'ghost'"):
        engine.ref("ghost")


async def test_duplicate_name_is_rejected():
    engine = Engine()
    await engine.spawn(Recorder())
    with pytest.raises(Conflict, match="an actor of that name is running"):
        await engine.spawn(Recorder())


async def test_conflation_keeps_latest_per_key_and_counts():
    engine = Engine()
    actor = Recorder(conflate={Quote: lambda q: q.symbol})
    actor.conflate = {Quote: lambda q: q.symbol}
    ref = await engine.spawn(actor)
    # Enqueue synchronously, before the drain callback can run.
    ref.tell(Quote("BTC", 1))
    ref.tell("trade-1")
    ref.tell(Quote("BTC", 2))
    ref.tell(Quote("ETH", 10))
    ref.tell(Quote("BTC", 3))
    await settle(engine)
    seen = [(m.symbol, m.price) if isinstance(m, Quote) else m for m in actor.seen]
    assert seen == [("BTC", 3), "trade-1", ("ETH", 10)]
    assert engine._cells["recorder"].mailbox.conflated == 2


async def test_full_mailbox_pauses_sender_and_loses_nothing():
    class SlowSink(Recorder):
        async def on_message(self, message):
            # Awaiting keeps the sink busy, so what is sent meanwhile queues.
            await asyncio.sleep(0)
            self.seen.append(message)

    engine = Engine()
    sink = SlowSink("sink", mailbox_capacity=10)
    sink_ref = await engine.spawn(sink)

    class Burst(Actor):
        def on_message(self, count):
            for i in range(count):
                self.send(sink_ref, i)

    burst = await engine.spawn(Burst("burst"))
    for _ in range(5):
        burst.tell(20)
    for _ in range(5):
        await settle(engine)
    assert sink.seen == list(range(20)) * 5
    # Each burst overflowed the sink, so the sender waited at least once.
    assert engine._cells["burst"].blocked.count >= 1


async def test_resume_policy_drops_only_the_failed_message(caplog):
    class Picky(Recorder):
        supervision = Supervision.RESUME

        def on_message(self, message):
            if message == "bad":
                raise ValueError("cannot digest")
            super().on_message(message)

    engine = Engine()
    actor = Picky("picky")
    ref = await engine.spawn(actor)
    with caplog.at_level(logging.ERROR):
        for m in ("a", "bad", "b"):
            ref.tell(m)
        await settle(engine)
    assert actor.seen == ["a", "b"]
    assert "actor picky failed on 'bad': cannot digest; policy resume" in caplog.text


async def test_restart_policy_with_factory_gives_fresh_state():
    class Counter(Actor):
        supervision = Supervision.RESTART

        def __init__(self, name="counter"):
            super().__init__(name)
            self.total = 0

        def on_message(self, message):
            if message == "boom":
                raise RuntimeError("boom")
            self.total += message

    engine = Engine()
    ref = await engine.spawn(Counter(), factory=Counter)
    for m in (5, 7, "boom", 1):
        ref.tell(m)
    await settle(engine)
    cell = engine._cells["counter"]
    assert cell.actor.total == 1
    assert cell.restarts == 1
    assert cell.actor.ref is ref


async def test_too_many_restarts_stop_the_engine():
    class Fragile(Actor):
        supervision = Supervision.RESTART

        def on_message(self, message):
            raise RuntimeError("always")

    engine = Engine()
    ref = await engine.spawn(Fragile("fragile"), factory=lambda: Fragile("fragile"))
    for i in range(MAX_RESTARTS + 1):
        ref.tell(i)
    await asyncio.wait_for(engine.wait_stop_requested(), 1)
    assert engine.failure[0] == "fragile"
    assert str(engine.failure[1]) == "always"


async def test_stop_engine_policy_requests_shutdown():
    class Critical(Actor):
        supervision = Supervision.STOP_ENGINE

        def on_message(self, message):
            raise KeyError(message)

    engine = Engine()
    ref = await engine.spawn(Critical("critical"))
    ref.tell("x")
    await asyncio.wait_for(engine.wait_stop_requested(), 1)
    assert engine.failure[0] == "critical"


async def test_shutdown_follows_stop_order_and_closes_resources_last():
    order = []

    class Stage(Recorder):
        def on_stop(self):
            order.append(self.name)

    engine = Engine()
    recorder = Stage("recorder", stop_order=90)
    feed = Stage("feed", stop_order=0)
    book = Stage("book", stop_order=10)
    for actor in (recorder, feed, book):
        await engine.spawn(actor)
    engine.add_closer("store-a", lambda: order.append("store-a"))
    engine.add_closer("store-b", lambda: order.append("store-b"))
    engine.ref("recorder").tell("tick")
    await engine.shutdown()
    assert order == ["feed", "book", "recorder", "store-b", "store-a"]
    assert recorder.seen == ["tick"]


async def test_shutdown_drains_pending_messages():
    engine = Engine()
    actor = Recorder()
    ref = await engine.spawn(actor)
    for i in range(100):
        ref.tell(i)
    await engine.shutdown()
    assert actor.seen == list(range(100))


async def test_stats_report_counts_and_latency():
    engine = Engine()
    ref = await engine.spawn(Recorder())
    for i in range(10):
        ref.tell(i)
    await settle(engine)
    (stats,) = engine.stats()
    assert stats["messages_in"] == 10
    assert stats["messages_handled"] == 10
    assert stats["mailbox_depth"] == 0
    assert stats["handling"]["count"] == 10
    assert stats["handling"]["p99_ns"] >= stats["handling"]["p50_ns"] > 0


async def test_deliver_runs_idle_actor_at_once_after_older_messages():
    engine = Engine()
    actor = Recorder()
    ref = await engine.spawn(actor)
    ref.deliver("now")
    assert actor.seen == ["now"]  # handled before any loop iteration
    ref.tell("queued")
    assert actor.seen == ["now"]
    ref.deliver("after")  # the queued message is handled first, then this one
    assert actor.seen == ["now", "queued", "after"]
    await settle(engine)
    assert actor.seen == ["now", "queued", "after"]


async def test_send_to_idle_actor_runs_inline_and_never_reenters():
    calls = []

    class Echo(Actor):
        def __init__(self, name, peer=None):
            super().__init__(name)
            self.peer = peer

        def on_message(self, message):
            calls.append((self.name, message))
            if message < 3:
                self.send(self.peer, message + 1)

    engine = Engine()
    ping = Echo("ping")
    pong = Echo("pong")
    await engine.spawn(ping)
    await engine.spawn(pong)
    ping.peer, pong.peer = "pong", "ping"
    engine.ref("ping").deliver(0)
    # ping(0) ran inline and sent 1 to pong, which ran inline; pong's 2 for ping
    # was queued, because ping was still running up the call stack.
    assert calls == [("ping", 0), ("pong", 1)]
    await settle(engine)
    assert calls == [("ping", 0), ("pong", 1), ("ping", 2), ("pong", 3)]
