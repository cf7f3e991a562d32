"""The console's consumer-group pages in a real browser (Debian's Chromium driven by Playwright):
a confluent-kafka consumer group with lag, the lag falling to zero on the open page (htmx polling,
no reload) as the consumer catches up and commits, then an offset reset to earliest with a dry run
and an execute, verified by a real consumer re-reading the topic from the start. Screenshots go to
target/console-screenshots/. HTTP-level tests: crates/gregor/tests/console_groups.rs."""

import time
import uuid

from clients import Rec, assert_all_sent, cf_create_topic, cf_produce
from console_fixtures import browser, console_factory, new_page, shot  # noqa: F401 (fixtures)

FAST = {"group.initial.rebalance.delay.ms": "0"}


def consumer(bootstrap, group, **conf):
    from confluent_kafka import Consumer

    base = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": 100}
    base.update(conf)
    return Consumer(base)


def consume(c, n, timeout_s=40):
    """Polls until n records came; returns them."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m)
    assert len(got) == n, f"consumed {len(got)} of {n}"
    return got


def test_lag_falls_to_zero_live_and_reset_to_earliest_rereads(console_factory, browser):
    from playwright.sync_api import expect

    srv = console_factory(FAST)
    b = srv.bootstrap
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    group = f"billing-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 1)
    assert_all_sent(cf_produce(b, topic, [Rec(b"k%d" % i, b"v%d" % i) for i in range(50)]), 50)

    c = consumer(b, group)
    c.subscribe([topic])
    first = consume(c, 10)
    c.commit(message=first[-1], asynchronous=False)

    page = new_page(browser)
    page.goto(f"{srv.url}/console/groups")
    expect(page.locator(f'#group-list tr[data-group="{group}"]')).to_contain_text("Stable")
    shot(page, "groups-list")
    page.click(f'#group-list a:text-is("{group}")')
    expect(page.locator("#total-lag")).to_have_text("40")
    expect(page.locator("#members")).to_contain_text(f"{topic}-0")
    expect(page.locator("#group-type")).to_have_text("classic")
    shot(page, "group-lagging")

    # The consumer catches up; the open page shows the lag fall to zero by itself.
    rest = consume(c, 40)
    c.commit(message=rest[-1], asynchronous=False)
    expect(page.locator("#total-lag")).to_have_text("0", timeout=20_000)
    row = page.locator(f'#lag-table tr[data-partition="{topic}-0"]')
    expect(row.locator("td.committed")).to_have_text("50")
    expect(row.locator("td.lag-seconds")).to_have_text("0.0")
    shot(page, "group-caught-up")

    # An active group is not reset: Kafka's message, shown on the page.
    page.fill("#reset-form input[name=topic]", topic)
    page.select_option("#reset-form select[name=to]", "earliest")
    page.click("#reset-dry-run")
    expect(page.locator("#reset-result")).to_contain_text("can only be reset if the group")

    # The consumer leaves: the group is Empty (the lag table polls the state too).
    c.close()
    expect(page.locator("#lag-state")).to_have_text("Empty", timeout=20_000)
    expect(page.locator("#members tbody tr")).to_have_count(0)

    page.click("#reset-dry-run")
    plan = page.locator("#reset-plan")
    expect(plan).to_contain_text("Dry run")
    expect(plan.locator(f'tr[data-partition="{topic}-0"] td.current')).to_have_text("50")
    expect(plan.locator(f'tr[data-partition="{topic}-0"] td.new')).to_have_text("0")
    shot(page, "group-reset-dry-run")
    # A dry run changes nothing.
    page.wait_for_timeout(2500)
    expect(page.locator("#total-lag")).to_have_text("0")

    page.click("#reset-execute")  # hx-confirm: the fixture accepts it
    expect(page.locator("#reset-plan")).to_contain_text("Offsets committed")
    expect(page.locator("#total-lag")).to_have_text("50", timeout=20_000)
    shot(page, "group-reset-executed")
    assert any(kind == "confirm" for kind, _ in page.dialogs), page.dialogs
    assert not page.js_errors, page.js_errors

    # A real consumer of the group starts from the committed (reset) offsets: all 50 again,
    # from offset 0, though it would start at the end on its own.
    again = consumer(b, group, **{"auto.offset.reset": "latest"})
    try:
        again.subscribe([topic])
        reread = consume(again, 50)
        assert reread[0].offset() == 0
        assert [m.value() for m in reread] == [b"v%d" % i for i in range(50)]
    finally:
        again.close()


def post_form(url, fields):
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST")) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_open_transaction_is_listed_and_aborted_like_kafka_transactions(console_factory, browser):
    from confluent_kafka import Consumer, Producer
    from playwright.sync_api import expect

    srv = console_factory(FAST)
    b = srv.bootstrap
    topic = f"payments-{uuid.uuid4().hex[:6]}"
    tid = f"tx-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 1)
    producer = Producer({"bootstrap.servers": b, "transactional.id": tid,
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"open")
    producer.flush(30)
    # A record after the open transaction: read_committed consumers wait for the transaction.
    assert_all_sent(cf_produce(b, topic, [Rec(None, b"after")]), 1)

    page = new_page(browser)
    page.goto(f"{srv.url}/console/transactions")
    row = page.locator(f'#txn-list tr[data-txn="{tid}"]')
    expect(row.locator("td.state")).to_have_text("Ongoing")
    expect(row).to_contain_text(f"{topic}-0")
    # Its coordinator has it open there: not hanging, whatever the threshold.
    expect(page.locator("#no-hanging")).to_be_visible()
    page.goto(f"{srv.url}/console/transactions?max_timeout_ms=0")
    expect(page.locator("#no-hanging")).to_be_visible()
    shot(page, "transactions")
    assert not page.js_errors, page.js_errors

    reader = Consumer({"bootstrap.servers": b, "group.id": f"r-{tid}", "auto.offset.reset": "earliest",
                       "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        reader.subscribe([topic])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            m = reader.poll(0.2)
            assert m is None or m.error() is not None, "read past an open transaction"

        # Bad input first: 4xx with a message.
        status, body = post_form(f"{srv.url}/console/transactions/abort",
                                 {"topic": topic, "partition": "0", "start_offset": "7"})
        assert status == 404 and "no open transaction starts at offset 7" in body, body
        status, body = post_form(f"{srv.url}/console/transactions/abort",
                                 {"topic": topic, "partition": "zero", "start_offset": "0"})
        assert status == 400, body

        # kafka-transactions abort --topic --partition 0 --start-offset 0
        status, body = post_form(f"{srv.url}/console/transactions/abort",
                                 {"topic": topic, "partition": "0", "start_offset": "0"})
        assert status == 200 and "Aborted the transaction" in body, body
        got = consume(reader, 1)
        assert got[0].value() == b"after"
    finally:
        reader.close()
