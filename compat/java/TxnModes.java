// Transactional modes of the Java kafka-clients driver (CompatClient dispatches here).
// One JSON object per line on stdout, like the rest of CompatClient.
//
//   CompatClient BOOTSTRAP txn-produce TOPIC TXN_ID PREFIX PATTERN PER_TXN [--opt=v ...] [producer.prop=value ...]
//       One producer with transactional.id=TXN_ID runs transactions; transaction i writes
//       PER_TXN records with unique values PREFIX-t<i>-r<j> (key = value), record j to
//       partition j % P with --partitions=P, else by key. PATTERN letters, one per transaction:
//         C  commit      A  abort (after flushing, so the aborted records are in the log)
//         W  flush, print {"txn","waiting":true}, read one stdin line: "commit" or "abort"
//         O  flush, print {"txn","open":true} and hang with the transaction open (to be killed)
//       Options: --txns=N   run N transactions, cycling PATTERN (default: its length)
//                --until-stop  cycle PATTERN until stdin says "stop" or closes
//                --robust  on an error, end the transaction as best it can, close the producer,
//                          open a new one with the same transactional.id and go on
//       Prints: {"init":true} after initTransactions, then per transaction
//         {"txn":T,"begin":true,"values":[...]}
//         {"txn":T,"value":V,"partition":P,"offset":O} per acknowledged record
//         {"txn":T,"committing":true}                 just before commitTransaction
//         {"txn":T,"outcome":"committed"|"aborted"|"unknown"[,"error","message"]}
//       (unknown: commitTransaction was called and failed; the broker may still commit it),
//       and finally {"done":true,"committed":N,"aborted":N,"unknown":N}.
//       Without --robust the first error ends the run (after its outcome line), exit 0.
//   CompatClient BOOTSTRAP txn-copy IN OUT GROUP TXN_ID [--batch=N] [prop=value ...]
//       Consume-transform-produce: a read_committed consumer in GROUP (static member
//       TXN_ID-member) reads IN; each poll batch becomes one transaction writing
//       "copy:"+value (same key, same partition) to OUT plus sendOffsetsToTransaction.
//       Prints {"batch":B,"sent":N} once the batch is flushed (records in the log, not
//       committed), {"batch":B,"committed":true} after the commit, and {"done":true,"copied":N}
//       when its position has reached the end of every IN partition. Errors: exit 1.
//   CompatClient BOOTSTRAP txn-pipeline IN OUT GROUP TXN_ID [--batch=N] [consumer.prop=value ...]
//       The consume-transform-produce loop of KafkaProducer's javadoc, for one member of a
//       group that rebalances: a read_committed consumer in GROUP (props such as
//       group.protocol, partition.assignment.strategy, group.remote.assignor,
//       group.instance.id go to the consumer) reads IN; each poll becomes one transaction
//       writing "copy:"+value (same key, same partition) to OUT, then
//       sendOffsetsToTransaction(offsets, consumer.groupMetadata()) and commitTransaction.
//       An abortable error (e.g. CommitFailedException after a rebalance fenced this
//       generation) aborts and rewinds to the committed offsets. Prints {"assigned":[...]}
//       on every assignment change, {"txn":i,"records":n,"committed":bool[,"reason"]} per
//       transaction (committed ones with "offsets":{"P":next offset}) and {"done":true,"txns":n}
//       after closing once stdin closes. Fatal errors (fenced producer, ...): {"error":...} and
//       exit 1. Options for the fault tests: --tag=T (copies read "copy:"+value+"|T#"+txn),
//       --abort-every=N (every Nth transaction flushed, aborted and redone), --txn-timeout-ms=MS.
//   CompatClient BOOTSTRAP read-all TOPIC read_committed|read_uncommitted TIMEOUT_MS
//       assign() every partition from the beginning, take endOffsets (the LSO for
//       read_committed) and poll until every position reaches them. Prints
//       {"partition","offset","value"(UTF-8 string)} per record, then
//       {"done":true,"count":N,"complete":bool,"end":{"P":offset}}.
//   CompatClient BOOTSTRAP txn-fence TOPIC TXN_ID PREFIX [prop=value ...]
//       Zombie fencing: producer A begins a transaction and writes PREFIX-a1, producer B
//       initialises the same TXN_ID, A writes PREFIX-a2 and tries to commit, aborts, tries
//       a new transaction (txn "A2", PREFIX-a3); then B writes and commits PREFIX-b1.
//       Prints the txn-produce lines with txn "A" / "A2" / "B" plus {"step":S,"ok":true}
//       or {"step":S,"error":...} for b-init, a-send2, a-commit, a-abort, a-retry.
//   CompatClient BOOTSTRAP txn-admin list|describe ID...|producers TOPIC PARTITION|features
//       listTransactions: {"transactions":[{"id","producerId","state"}]}
//       describeTransactions: {"id","state","producerId","producerEpoch","timeoutMs",
//                              "startTimeMs","coordinator","partitions":[["topic",p]...]}
//       describeProducers: {"producers":[{"producerId","producerEpoch","lastSequence",
//                              "coordinatorEpoch","txnStartOffset"}]}
//       describeFeatures: {"finalized":{"name":[min,max]},"supported":{"name":[min,max]}}

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class TxnModes {
    static String q(String s) { return CompatClient.q(s); }
    static void out(String s) { CompatClient.out(s); }
    static String errFields(Throwable t) {
        String e = CompatClient.err(t); // {"error":...,"message":...}
        return e.substring(1, e.length() - 1);
    }
    static byte[] utf8(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    /** "--name=value" options into opts, "key=value" into props. */
    static void parse(String[] a, int from, Map<String, String> opts, Properties props) {
        for (int i = from; i < a.length; i++) {
            String s = a[i];
            int eq = s.indexOf('=');
            if (s.startsWith("--")) {
                opts.put(eq < 0 ? s.substring(2) : s.substring(2, eq), eq < 0 ? "true" : s.substring(eq + 1));
            } else {
                props.put(s.substring(0, eq), s.substring(eq + 1));
            }
        }
    }

    static KafkaProducer<byte[], byte[]> txnProducer(String bootstrap, String txnId, Properties extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.putAll(extra);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** Lines from stdin, read by one daemon thread; "\u0000EOF" marks the end. */
    static final String EOF = "\u0000EOF";
    static LinkedBlockingQueue<String> stdinLines() {
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread t = new Thread(() -> {
            Scanner sc = new Scanner(System.in, StandardCharsets.UTF_8);
            while (sc.hasNextLine()) lines.add(sc.nextLine().trim());
            lines.add(EOF);
        });
        t.setDaemon(true);
        t.start();
        return lines;
    }

    // ---- txn-produce --------------------------------------------------------------------
    static void txnProduce(String bootstrap, String[] a) throws Exception {
        String topic = a[0], txnId = a[1], prefix = a[2], pattern = a[3];
        int perTxn = Integer.parseInt(a[4]);
        Map<String, String> opts = new HashMap<>();
        Properties props = new Properties();
        parse(a, 5, opts, props);
        int txns = Integer.parseInt(opts.getOrDefault("txns", String.valueOf(pattern.length())));
        int partitions = Integer.parseInt(opts.getOrDefault("partitions", "0"));
        boolean untilStop = opts.containsKey("until-stop");
        boolean robust = opts.containsKey("robust");
        LinkedBlockingQueue<String> stdin = stdinLines();
        int committed = 0, aborted = 0, unknown = 0;

        KafkaProducer<byte[], byte[]> producer = initWithRetry(bootstrap, txnId, props, robust);
        for (int i = 0; untilStop || i < txns; i++) {
            if (untilStop && (stdin.contains("stop") || stdin.contains(EOF))) break;
            char kind = pattern.charAt(i % pattern.length());
            String txn = prefix + "-t" + i;
            List<String> values = new ArrayList<>();
            for (int j = 0; j < perTxn; j++) values.add(txn + "-r" + j);
            StringJoiner vs = new StringJoiner(",", "[", "]");
            for (String v : values) vs.add(q(v));
            boolean committing = false;
            try {
                producer.beginTransaction();
                out("{\"txn\":" + q(txn) + ",\"begin\":true,\"values\":" + vs + "}");
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int j = 0; j < perTxn; j++) {
                    Integer part = partitions > 0 ? j % partitions : null;
                    fs.add(producer.send(new ProducerRecord<>(topic, part, utf8(values.get(j)), utf8(values.get(j)))));
                }
                producer.flush();
                for (int j = 0; j < perTxn; j++) {
                    RecordMetadata m = fs.get(j).get();
                    out("{\"txn\":" + q(txn) + ",\"value\":" + q(values.get(j)) + ",\"partition\":" + m.partition()
                            + ",\"offset\":" + m.offset() + "}");
                }
                if (kind == 'O') {
                    out("{\"txn\":" + q(txn) + ",\"open\":true}");
                    while (true) Thread.sleep(60_000); // held open until the test kills us
                }
                if (kind == 'W') {
                    out("{\"txn\":" + q(txn) + ",\"waiting\":true}");
                    String line = stdin.take();
                    kind = line.equals("commit") ? 'C' : 'A';
                }
                if (kind == 'C') {
                    out("{\"txn\":" + q(txn) + ",\"committing\":true}");
                    committing = true;
                    producer.commitTransaction();
                    committed++;
                    out("{\"txn\":" + q(txn) + ",\"outcome\":\"committed\"}");
                } else {
                    producer.abortTransaction();
                    aborted++;
                    out("{\"txn\":" + q(txn) + ",\"outcome\":\"aborted\"}");
                }
            } catch (Exception e) {
                if (committing) {
                    unknown++;
                } else {
                    aborted++;
                    try {
                        producer.abortTransaction();
                    } catch (Exception ignored) {
                        // the broker aborts it (InitProducerId of the next producer, or the timeout)
                    }
                }
                out("{\"txn\":" + q(txn) + ",\"outcome\":" + q(committing ? "unknown" : "aborted") + "," + errFields(e) + "}");
                producer.close(Duration.ZERO);
                if (!robust) {
                    producer = null;
                    break;
                }
                producer = initWithRetry(bootstrap, txnId, props, true);
            }
        }
        if (producer != null) producer.close(Duration.ofSeconds(10));
        out("{\"done\":true,\"committed\":" + committed + ",\"aborted\":" + aborted + ",\"unknown\":" + unknown + "}");
    }

    static KafkaProducer<byte[], byte[]> initWithRetry(String bootstrap, String txnId, Properties props, boolean retry)
            throws Exception {
        long deadline = System.currentTimeMillis() + 90_000;
        while (true) {
            KafkaProducer<byte[], byte[]> p = txnProducer(bootstrap, txnId, props);
            try {
                p.initTransactions();
                out("{\"init\":true}");
                return p;
            } catch (Exception e) {
                p.close(Duration.ZERO);
                out("{\"init\":false," + errFields(e) + "}");
                if (!retry || System.currentTimeMillis() > deadline) throw e;
                Thread.sleep(200); // back off before the next attempt against a restarting broker
            }
        }
    }

    /** A read_committed group member that commits only through transactions (txn-copy,
     *  txn-pipeline); `extra` wins over the defaults. */
    static Properties copierConsumerProps(String bootstrap, String group, String batch, Properties extra) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, batch);
        cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        cp.putAll(extra);
        if (!"consumer".equals(cp.getProperty(ConsumerConfig.GROUP_PROTOCOL_CONFIG))) {
            // the consumer protocol takes these from the broker and refuses them here
            cp.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            cp.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        }
        return cp;
    }

    // ---- txn-copy ----------------------------------------------------------------------------
    static void txnCopy(String bootstrap, String[] a) throws Exception {
        String in = a[0], outTopic = a[1], group = a[2], txnId = a[3];
        Map<String, String> opts = new HashMap<>();
        Properties props = new Properties();
        parse(a, 4, opts, props);
        Properties extra = new Properties();
        extra.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, txnId + "-member");
        Properties cp = copierConsumerProps(bootstrap, group, opts.getOrDefault("batch", "100"), extra);
        int copied = 0;
        try (KafkaProducer<byte[], byte[]> producer = txnProducer(bootstrap, txnId, props);
             KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            producer.initTransactions(); // aborts what a killed predecessor left open, before we fetch offsets
            out("{\"init\":true}");
            List<TopicPartition> all = CompatClient.partitions(consumer, in);
            consumer.subscribe(List.of(in));
            Set<TopicPartition> last = new HashSet<>();
            for (int batch = 0; ; ) {
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
                if (!consumer.assignment().equals(last)) {
                    last = new HashSet<>(consumer.assignment());
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (TopicPartition tp : last) j.add(String.valueOf(tp.partition()));
                    out("{\"assigned\":" + j + "}");
                }
                if (recs.isEmpty()) {
                    if (last.size() == all.size() && atEnd(consumer, all)) break;
                    continue;
                }
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    byte[] v = utf8("copy:" + new String(r.value(), StandardCharsets.UTF_8));
                    producer.send(new ProducerRecord<>(outTopic, r.partition(), r.key(), v));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                producer.flush();
                out("{\"batch\":" + batch + ",\"sent\":" + recs.count() + "}");
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                producer.commitTransaction();
                copied += recs.count();
                out("{\"batch\":" + batch + ",\"committed\":true}");
                batch++;
            }
        } catch (Exception e) {
            out(CompatClient.err(e));
            System.exit(1);
        }
        out("{\"done\":true,\"copied\":" + copied + "}");
    }

    // ---- txn-pipeline ------------------------------------------------------------------------
    static void txnPipeline(String bootstrap, String[] a) throws Exception {
        String in = a[0], outTopic = a[1], group = a[2], txnId = a[3];
        Map<String, String> opts = new HashMap<>();
        Properties consumerProps = new Properties();
        parse(a, 4, opts, consumerProps);
        Properties cp = copierConsumerProps(bootstrap, group, opts.getOrDefault("batch", "50"), consumerProps);
        // Fault tests (compat/cluster/test_eos.py): --tag=T appends "|T#<txn>" to every copy so a
        // reader knows which transaction wrote it; --abort-every=N aborts every Nth transaction on
        // purpose after flushing its copies (they are in the log, aborted) and redoes the batch;
        // --txn-timeout-ms sets the producer's transaction.timeout.ms.
        String tag = opts.get("tag");
        int abortEvery = Integer.parseInt(opts.getOrDefault("abort-every", "0"));
        Properties producerProps = new Properties();
        if (opts.containsKey("txn-timeout-ms")) {
            producerProps.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, opts.get("txn-timeout-ms"));
        }
        LinkedBlockingQueue<String> stdin = stdinLines();
        int txns = 0;
        try (KafkaProducer<byte[], byte[]> producer = txnProducer(bootstrap, txnId, producerProps);
             KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            producer.initTransactions();
            consumer.subscribe(List.of(in));
            Set<TopicPartition> last = new HashSet<>();
            while (!stdin.contains(EOF)) {
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
                if (!consumer.assignment().equals(last)) {
                    last = new HashSet<>(consumer.assignment());
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (TopicPartition tp : last) j.add(String.valueOf(tp.partition()));
                    out("{\"assigned\":" + j + "}");
                }
                if (recs.isEmpty()) continue;
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                Map<TopicPartition, Long> firsts = new HashMap<>();
                try {
                    for (ConsumerRecord<byte[], byte[]> r : recs) {
                        String copy = "copy:" + new String(r.value(), StandardCharsets.UTF_8);
                        if (tag != null) copy += "|" + tag + "#" + txns;
                        producer.send(new ProducerRecord<>(outTopic, r.partition(), r.key(), utf8(copy)));
                        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                        offsets.put(tp, new OffsetAndMetadata(r.offset() + 1));
                        firsts.merge(tp, r.offset(), Math::min);
                    }
                    if (abortEvery > 0 && txns % abortEvery == abortEvery - 1) {
                        producer.flush();
                        producer.abortTransaction();
                        for (Map.Entry<TopicPartition, Long> e : firsts.entrySet()) consumer.seek(e.getKey(), e.getValue());
                        out("{\"txn\":" + txns + ",\"records\":" + recs.count()
                                + ",\"committed\":false,\"reason\":\"deliberate\"}");
                        txns++;
                        continue;
                    }
                    producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    producer.commitTransaction();
                    StringJoiner offs = new StringJoiner(",", "{", "}");
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
                        offs.add(q(String.valueOf(e.getKey().partition())) + ":" + e.getValue().offset());
                    }
                    out("{\"txn\":" + txns + ",\"records\":" + recs.count() + ",\"committed\":true,\"offsets\":"
                            + offs + "}");
                } catch (org.apache.kafka.common.errors.ProducerFencedException
                         | org.apache.kafka.common.errors.OutOfOrderSequenceException
                         | org.apache.kafka.common.errors.AuthorizationException
                         | org.apache.kafka.common.errors.UnsupportedVersionException e) {
                    throw e; // fatal for this producer, per KafkaProducer's javadoc
                } catch (org.apache.kafka.common.KafkaException e) {
                    // abortable: redo this batch from the last committed offsets
                    producer.abortTransaction();
                    Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(consumer.assignment());
                    for (TopicPartition tp : consumer.assignment()) {
                        OffsetAndMetadata om = committed.get(tp);
                        if (om == null) consumer.seekToBeginning(List.of(tp)); else consumer.seek(tp, om.offset());
                    }
                    out("{\"txn\":" + txns + ",\"records\":" + recs.count() + ",\"committed\":false,\"reason\":"
                            + q(e.getClass().getSimpleName() + ": " + e.getMessage()) + "}");
                }
                txns++;
            }
        } catch (Exception e) {
            out(CompatClient.err(e));
            System.exit(1);
        }
        out("{\"done\":true,\"txns\":" + txns + "}");
    }

    static boolean atEnd(KafkaConsumer<?, ?> c, List<TopicPartition> tps) {
        Map<TopicPartition, Long> end = c.endOffsets(tps);
        for (TopicPartition tp : tps) {
            if (c.position(tp) < end.get(tp)) return false;
        }
        return true;
    }

    // ---- read-all ----------------------------------------------------------------------------
    static void readAll(String bootstrap, String[] a) {
        String topic = a[0], isolation = a[1];
        long deadline = System.currentTimeMillis() + Long.parseLong(a[2]);
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        int n = 0;
        boolean complete = false;
        StringJoiner ends = new StringJoiner(",", "{", "}");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = CompatClient.partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            for (TopicPartition tp : tps) ends.add(q(String.valueOf(tp.partition())) + ":" + end.get(tp));
            while (System.currentTimeMillis() < deadline) {
                boolean done = true;
                for (TopicPartition tp : tps) done &= c.position(tp) >= end.get(tp);
                if (done) {
                    complete = true;
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    out("{\"partition\":" + r.partition() + ",\"offset\":" + r.offset() + ",\"value\":"
                            + (r.value() == null ? "null" : q(new String(r.value(), StandardCharsets.UTF_8))) + "}");
                    n++;
                }
            }
        } catch (Exception e) {
            out(CompatClient.err(e));
        }
        out("{\"done\":true,\"count\":" + n + ",\"complete\":" + complete + ",\"end\":" + ends + "}");
    }

    // ---- txn-fence ----------------------------------------------------------------------------
    static void ack(String txn, String value, RecordMetadata m) {
        out("{\"txn\":" + q(txn) + ",\"value\":" + q(value) + ",\"partition\":" + m.partition()
                + ",\"offset\":" + m.offset() + "}");
    }

    static void txnFence(String bootstrap, String[] a) throws Exception {
        String topic = a[0], txnId = a[1], prefix = a[2];
        Properties props = new Properties();
        parse(a, 3, new HashMap<>(), props);
        String a1 = prefix + "-a1", a2 = prefix + "-a2", a3 = prefix + "-a3", b1 = prefix + "-b1";
        try (KafkaProducer<byte[], byte[]> pa = txnProducer(bootstrap, txnId, props);
             KafkaProducer<byte[], byte[]> pb = txnProducer(bootstrap, txnId, props)) {
            pa.initTransactions();
            pa.beginTransaction();
            out("{\"txn\":\"A\",\"begin\":true,\"values\":[" + q(a1) + "," + q(a2) + "]}");
            ack("A", a1, pa.send(new ProducerRecord<>(topic, 0, utf8(a1), utf8(a1))).get());

            pb.initTransactions(); // fences A and aborts its open transaction
            out("{\"step\":\"b-init\",\"ok\":true}");

            String aError = null;
            try {
                ack("A", a2, pa.send(new ProducerRecord<>(topic, 0, utf8(a2), utf8(a2))).get());
                out("{\"step\":\"a-send2\",\"ok\":true}");
            } catch (Exception e) {
                out("{\"step\":\"a-send2\"," + errFields(e) + "}");
            }
            try {
                pa.commitTransaction();
                out("{\"step\":\"a-commit\",\"ok\":true}");
                out("{\"txn\":\"A\",\"outcome\":\"committed\"}");
            } catch (Exception e) {
                out("{\"step\":\"a-commit\"," + errFields(e) + "}");
                out("{\"txn\":\"A\",\"outcome\":\"aborted\"," + errFields(e) + "}");
            }

            // after an abortable error the zombie may abort and try again: still fenced
            try {
                pa.abortTransaction();
                out("{\"step\":\"a-abort\",\"ok\":true}");
            } catch (Exception e) {
                out("{\"step\":\"a-abort\"," + errFields(e) + "}");
            }
            try {
                pa.beginTransaction();
                out("{\"txn\":\"A2\",\"begin\":true,\"values\":[" + q(a3) + "]}");
                ack("A2", a3, pa.send(new ProducerRecord<>(topic, 0, utf8(a3), utf8(a3))).get());
                pa.commitTransaction();
                out("{\"step\":\"a-retry\",\"ok\":true}");
                out("{\"txn\":\"A2\",\"outcome\":\"committed\"}");
            } catch (Exception e) {
                out("{\"step\":\"a-retry\"," + errFields(e) + "}");
                out("{\"txn\":\"A2\",\"outcome\":\"aborted\"," + errFields(e) + "}");
            }

            pb.beginTransaction();
            out("{\"txn\":\"B\",\"begin\":true,\"values\":[" + q(b1) + "]}");
            ack("B", b1, pb.send(new ProducerRecord<>(topic, 0, utf8(b1), utf8(b1))).get());
            out("{\"txn\":\"B\",\"committing\":true}");
            pb.commitTransaction();
            out("{\"txn\":\"B\",\"outcome\":\"committed\"}");
            pa.close(Duration.ZERO);
        }
        out("{\"done\":true}");
    }

    // ---- txn-admin ----------------------------------------------------------------------------
    static String range(short min, short max) { return "[" + min + "," + max + "]"; }

    static void txnAdmin(String bootstrap, String[] a) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(p)) {
            switch (a[0]) {
                case "list": {
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (TransactionListing t : admin.listTransactions().all().get()) {
                        j.add("{\"id\":" + q(t.transactionalId()) + ",\"producerId\":" + t.producerId()
                                + ",\"state\":" + q(t.state().name()) + "}");
                    }
                    out("{\"transactions\":" + j + "}");
                    break;
                }
                case "describe": {
                    List<String> ids = Arrays.asList(a).subList(1, a.length);
                    Map<String, TransactionDescription> ds = admin.describeTransactions(ids).all().get();
                    for (String id : ids) {
                        TransactionDescription d = ds.get(id);
                        StringJoiner parts = new StringJoiner(",", "[", "]");
                        for (TopicPartition tp : d.topicPartitions()) parts.add("[" + q(tp.topic()) + "," + tp.partition() + "]");
                        out("{\"id\":" + q(id) + ",\"state\":" + q(d.state().name()) + ",\"producerId\":" + d.producerId()
                                + ",\"producerEpoch\":" + d.producerEpoch() + ",\"timeoutMs\":" + d.transactionTimeoutMs()
                                + ",\"startTimeMs\":" + (d.transactionStartTimeMs().isPresent() ? d.transactionStartTimeMs().getAsLong() : "null")
                                + ",\"coordinator\":" + d.coordinatorId() + ",\"partitions\":" + parts + "}");
                    }
                    break;
                }
                case "producers": {
                    TopicPartition tp = new TopicPartition(a[1], Integer.parseInt(a[2]));
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (ProducerState s : admin.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers()) {
                        j.add("{\"producerId\":" + s.producerId() + ",\"producerEpoch\":" + s.producerEpoch()
                                + ",\"lastSequence\":" + s.lastSequence()
                                + ",\"coordinatorEpoch\":" + (s.coordinatorEpoch().isPresent() ? s.coordinatorEpoch().getAsInt() : "null")
                                + ",\"txnStartOffset\":" + (s.currentTransactionStartOffset().isPresent() ? s.currentTransactionStartOffset().getAsLong() : "null")
                                + "}");
                    }
                    out("{\"producers\":" + j + "}");
                    break;
                }
                case "features": {
                    FeatureMetadata f = admin.describeFeatures().featureMetadata().get();
                    StringJoiner fin = new StringJoiner(",", "{", "}");
                    f.finalizedFeatures().forEach((k, v) -> fin.add(q(k) + ":" + range(v.minVersionLevel(), v.maxVersionLevel())));
                    StringJoiner sup = new StringJoiner(",", "{", "}");
                    f.supportedFeatures().forEach((k, v) -> sup.add(q(k) + ":" + range(v.minVersion(), v.maxVersion())));
                    out("{\"finalized\":" + fin + ",\"supported\":" + sup + "}");
                    break;
                }
                default:
                    System.err.println("unknown txn-admin command " + a[0]);
                    System.exit(2);
            }
        } catch (Exception e) {
            out(CompatClient.err(e));
        }
    }
}
