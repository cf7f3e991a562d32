"""The web console in a real browser: Debian's Chromium driven by Playwright (no downloaded
browsers), against a real gregor process, with records produced by confluent-kafka.

Create a topic in the browser, produce through a real client, find a record with a filter,
show a record holding HTML/script as text (no dialog fires), delete a topic through the
confirmation, and read-only mode refusing a delete. Screenshots: target/console-screenshots/.
"""

import json
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from console_fixtures import browser, console_factory, new_page, shot  # noqa: F401 (fixtures)

XSS = '<script>alert("xss")</script><img src=x onerror="alert(2)">'


def produce(bootstrap, topic, records):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    errors = []
    for partition, key, value, headers in records:
        p.produce(topic, key=key, value=value, headers=headers, partition=partition,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert p.flush(30) == 0
    assert errors == []


def topics(bootstrap):
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def test_create_produce_filter_and_escape(console_factory, browser, topic):
    srv = console_factory()
    page = new_page(browser)
    page.goto(f"{srv.url}/console/topics")
    page.click("#create-topic summary")
    page.fill("input[name=name]", topic)
    page.fill("input[name=partitions]", "2")
    page.fill("textarea[name=configs]", "retention.ms=86400000")
    page.click("#create-topic button[type=submit]")
    page.wait_for_url(f"**/console/topics/{topic}")
    assert page.locator("#partitions tbody tr").count() == 2
    changed = page.locator("#configs tr.changed")
    assert changed.count() == 1
    assert "retention.ms" in changed.inner_text() and "86400000" in changed.inner_text()
    assert topic in topics(srv.bootstrap)
    shot(page, "topic")

    records = [(i % 2, f"key-{i}".encode(), json.dumps({"order": i, "status": "new"}).encode(), [])
               for i in range(20)]
    records.append((1, b"paid-key", json.dumps({"order": 42, "status": "paid"}).encode(),
                    [("source", b"web")]))
    records.append((0, b"<b>key</b>", XSS.encode(), [("<i>h</i>", XSS.encode())]))
    produce(srv.bootstrap, topic, records)

    page.goto(f"{srv.url}/console/messages")
    page.fill("input[name=topic]", topic)
    page.fill("input[name=filter]", 'json(value).status == "paid" && headers["source"] == "web"')
    page.click("#browse button[type=submit]")
    page.wait_for_selector("#records")
    rows = page.locator("#records tr.record")
    assert rows.count() == 1, page.inner_html("#results")
    assert '"status": "paid"' in rows.first.locator("td.value").inner_text()
    assert rows.first.locator("td.key").inner_text() == "paid-key"
    shot(page, "messages-filter")
    page.fill("input[name=filter]", 'json(value).order >= 16 || headers["source"] == "web"')
    page.click("#browse button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#records tr.record').length === 5")
    page.set_viewport_size({"width": 1360, "height": 760})
    shot(page, "messages-readme")

    # HTML in a key, value and header is text: visible as written, never run.
    page.fill("input[name=filter]", 'value.contains("<script>")')
    page.click("#browse button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#records tr.record').length === 1 && "
                           "document.querySelector('#records td.key').textContent.includes('<b>')")
    row = page.locator("#records tr.record").first
    assert row.locator("td.key").inner_text() == "<b>key</b>"
    assert row.locator("td.value").inner_text() == XSS
    assert XSS in row.locator("td.headers").inner_text()
    assert page.locator("#results script, #results img, #results b, #results i").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == [], page.dialogs
    shot(page, "messages-escaped")

    # A bad filter: the error is swapped into the results, with the parser's reason.
    page.fill("input[name=filter]", "value ==")
    page.click("#browse button[type=submit]")
    page.wait_for_selector("#results .error")
    assert "bad filter" in page.inner_text("#results .error")

    # Newest over all partitions, then the live tail picks up a new record.
    page.fill("input[name=filter]", "")
    page.check("input[name=tail]")
    page.click("#browse button[type=submit]")
    page.wait_for_selector("#tail")
    produce(srv.bootstrap, topic, [(0, b"tail-key", b"arrived while tailing", [])])
    page.wait_for_function(
        "document.querySelector('#records') && "
        "document.querySelector('#records').textContent.includes('arrived while tailing')",
        timeout=15_000)
    assert page.js_errors == [], page.js_errors
    shot(page, "messages-tail")

    page.goto(f"{srv.url}/console")
    assert page.inner_text("#topics") == "1"
    assert page.inner_text("#partitions") == "2"
    shot(page, "overview")


def test_delete_asks_for_confirmation(console_factory, browser, topic):
    srv = console_factory()
    AdminClient({"bootstrap.servers": srv.bootstrap})
    page = new_page(browser)
    page.goto(f"{srv.url}/console/topics")
    page.click("#create-topic summary")
    page.fill("input[name=name]", topic)
    page.click("#create-topic button[type=submit]")
    page.wait_for_url(f"**/console/topics/{topic}")
    page.click("#delete-topic")
    page.wait_for_selector("#deleted")
    assert [d[0] for d in page.dialogs] == ["confirm"]
    assert topic in page.dialogs[0][1]
    assert topic not in topics(srv.bootstrap)


def test_read_only_mode_refuses_a_delete(console_factory, browser, topic):
    srv = console_factory({"gregor.console.read.only": "true"})
    admin = AdminClient({"bootstrap.servers": srv.bootstrap})
    from confluent_kafka.admin import NewTopic
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)
    page = new_page(browser)
    page.goto(f"{srv.url}/console/topics/{topic}")
    assert page.is_visible("#read-only")
    assert page.locator("#delete-topic").count() == 0
    page.goto(f"{srv.url}/console/topics")
    assert page.locator("#create-topic").count() == 0
    # Even when asked directly, from the console's own page: 403.
    status = page.evaluate(
        "async (t) => (await fetch(`/console/topics/${t}/delete`, {method: 'POST'})).status", topic)
    assert status == 403
    assert topic in topics(srv.bootstrap)
    shot(page, "read-only")


def test_login_and_acls_in_the_browser(console_factory, browser, topic):
    from conftest import free_port, second_listener
    settings = second_listener(free_port())
    settings.update({
        "sasl.bootstrap.scram": "SCRAM-SHA-256=[name=admin,password=admin-pw];"
                                "SCRAM-SHA-512=[name=bob,password=bob-pw]",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The PLAINTEXT listener (where this test's admin client connects) is ANONYMOUS.
        "super.users": "User:admin;User:ANONYMOUS",
    })
    srv = console_factory(settings)
    # Chromium shows no page for a refused login (net::ERR_INVALID_AUTH_CREDENTIALS): its
    # request API reads the answer.
    anonymous = new_page(browser).request.get(f"{srv.url}/console")
    assert anonymous.status == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    wrong = new_page(browser, ("admin", "wrong")).request.get(f"{srv.url}/console")
    assert wrong.status == 401

    admin = new_page(browser, ("admin", "admin-pw"))
    admin.goto(f"{srv.url}/console/topics")
    assert "User:admin" in admin.inner_text("header")
    admin.click("#create-topic summary")
    admin.fill("input[name=name]", topic)
    admin.click("#create-topic button[type=submit]")
    admin.wait_for_url(f"**/console/topics/{topic}")

    bob = new_page(browser, ("bob", "bob-pw"))
    bob.goto(f"{srv.url}/console/topics")
    assert "User:bob" in bob.inner_text("header")
    assert topic not in bob.inner_text("#topic-list")
    answer = bob.goto(f"{srv.url}/console/topics/{topic}")
    assert answer.status == 403
    assert "TopicAuthorizationFailed" in bob.inner_text(".error")
    shot(bob, "forbidden")


def test_browser_shows_committed_records_only(console_factory, topic):
    """Records of an aborted transaction, and of one still open, are not shown (the browser
    reads as a read_committed consumer): the scan's own handling of transactions."""
    import urllib.request
    from confluent_kafka.admin import NewTopic

    srv = console_factory()
    admin = AdminClient({"bootstrap.servers": srv.bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": srv.bootstrap, "transactional.id": f"{topic}-tx"})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, key=b"a", value=b"aborted-1", partition=0)
    p.produce(topic, key=b"a", value=b"aborted-2", partition=0)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, key=b"c", value=b"committed-1", partition=0)
    p.commit_transaction(30)
    produce(srv.bootstrap, topic, [(0, b"plain", b"not-transactional", [])])
    p.begin_transaction()
    p.produce(topic, key=b"o", value=b"still-open", partition=0)
    p.flush(30)

    def browse(query):
        with urllib.request.urlopen(f"{srv.url}/console/messages/results?topic={topic}&{query}") as r:
            return r.read().decode()

    body = browse("from=oldest")
    assert "committed-1" in body and "not-transactional" in body
    assert "aborted-1" not in body and "aborted-2" not in body
    assert "still-open" not in body
    assert body.count('<tr class="record">') == 2
    p.commit_transaction(30)
    # The commit's marker is written after EndTxn is answered (as Kafka's coordinator does):
    # the record shows once the last stable offset passes it.
    deadline = time.monotonic() + 15
    while "still-open" not in browse("from=newest"):
        assert time.monotonic() < deadline, "the committed record never showed"
        time.sleep(0.2)
