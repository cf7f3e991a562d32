// Java kafka-clients driver for the compat suite. Prints one JSON object per line.
//
//   CompatClient BOOTSTRAP produce TOPIC [producer.prop=value ...]
//       stdin: one record per line, tab-separated fields (each "-" for null):
//         key_base64  value_base64  timestamp_ms  partition  headers
//       headers: comma-separated name_base64:value_base64 (value "-" for null), or "-".
//       Prints per record, in input order: {"partition":P,"offset":O,"timestamp":T}
//       or {"error":"ExceptionClass","message":"..."}.
//       enable.idempotence is false unless overridden (the broker under test may not
//       implement idempotence); acks defaults to all.
//   CompatClient BOOTSTRAP consume TOPIC COUNT TIMEOUT_MS
//       assign() to every partition, seekToBeginning, poll until COUNT records or timeout.
//       Prints {"partition","offset","timestamp","timestampType","key","value","headers"}
//       (key/value base64 or null; headers [[name, base64|null]]), then {"done":true,"count":N}.
//   CompatClient BOOTSTRAP group-consume TOPIC GROUP RUN_MS [consumer.prop=value ...]
//       subscribe() as a member of GROUP for RUN_MS, committing after every poll.
//       Prints {"partition","offset","value"} per record, {"assigned":[P...]} whenever
//       the assignment changes, then {"done":true,"count":N}.
//       With group.protocol=consumer (KIP-848; group.remote.assignor=uniform|range) the
//       session/heartbeat defaults are dropped: the broker sets those.
//   CompatClient BOOTSTRAP offsets-for-times TOPIC TIMESTAMP_MS
//       {"partition":P,"offset":O|null,"timestamp":T|null} per partition.
//   CompatClient BOOTSTRAP admin list-topics
//   CompatClient BOOTSTRAP admin create-topic NAME PARTITIONS RF [config=value ...]
//   CompatClient BOOTSTRAP admin describe-topic NAME
//   CompatClient BOOTSTRAP admin describe-configs topic|broker NAME
//   CompatClient BOOTSTRAP admin alter-config NAME config=value ...   (incremental SET)
//   CompatClient BOOTSTRAP admin create-partitions NAME TOTAL
//   CompatClient BOOTSTRAP admin delete-topic NAME
//   CompatClient BOOTSTRAP admin describe-cluster
//   Admin errors print {"error":"ExceptionClass","message":"..."} and exit 0.
//   CompatClient BOOTSTRAP txn-produce|txn-copy|txn-pipeline|txn-fence|txn-admin|read-all ...
//       transactions and isolation levels: see TxnModes.java.
//   CompatClient BOOTSTRAP fault-produce ...
//       the replication fault tests' idempotent producer: see FaultModes.java.
//   CompatClient BOOTSTRAP group-follow ...
//       the coordinator failover tests' group member: see GroupModes.java.
//   CompatClient BOOTSTRAP share-consume TOPIC GROUP ...
//       a KafkaShareConsumer (share groups, KIP-932) with explicit acknowledgement: see ShareModes.java.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class CompatClient {
    // ---- tiny JSON writer -------------------------------------------------
    static String q(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String b64(byte[] b) {
        return b == null ? "null" : q(Base64.getEncoder().encodeToString(b));
    }

    static byte[] unb64(String s) {
        return s.equals("-") ? null : Base64.getDecoder().decode(s);
    }

    static Throwable root(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof KafkaException && !(t instanceof ApiException))
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static String err(Throwable t) {
        t = root(t);
        return "{\"error\":" + q(t.getClass().getSimpleName()) + ",\"message\":" + q(String.valueOf(t.getMessage())) + "}";
    }

    static void out(String s) {
        System.out.println(s);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: CompatClient BOOTSTRAP produce|consume|offsets-for-times|admin ...");
            System.exit(2);
        }
        String bootstrap = args[0];
        String cmd = args[1];
        String[] rest = Arrays.copyOfRange(args, 2, args.length);
        switch (cmd) {
            case "produce": produce(bootstrap, rest); break;
            case "consume": consume(bootstrap, rest); break;
            case "group-consume": groupConsume(bootstrap, rest); break;
            case "offsets-for-times": offsetsForTimes(bootstrap, rest); break;
            case "admin": admin(bootstrap, rest); break;
            // transactional modes, documented in TxnModes.java
            case "txn-produce": TxnModes.txnProduce(bootstrap, rest); break;
            case "txn-copy": TxnModes.txnCopy(bootstrap, rest); break;
            case "txn-pipeline": TxnModes.txnPipeline(bootstrap, rest); break;
            case "txn-fence": TxnModes.txnFence(bootstrap, rest); break;
            case "txn-admin": TxnModes.txnAdmin(bootstrap, rest); break;
            case "read-all": TxnModes.readAll(bootstrap, rest); break;
            case "fault-produce": FaultModes.faultProduce(bootstrap, rest); break;
            case "group-follow": GroupModes.groupFollow(bootstrap, rest); break;
            case "share-consume": ShareModes.shareConsume(bootstrap, rest); break;
            default:
                System.err.println("unknown command " + cmd);
                System.exit(2);
        }
    }

    // ---- produce -----------------------------------------------------------
    static void produce(String bootstrap, String[] a) throws Exception {
        String topic = a[0];
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(8 << 20));
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, String.valueOf(256L << 20));
        for (int i = 1; i < a.length; i++) {
            int eq = a[i].indexOf('=');
            p.put(a[i].substring(0, eq), a[i].substring(eq + 1));
        }
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        Scanner sc = new Scanner(System.in, StandardCharsets.UTF_8);
        while (sc.hasNextLine()) {
            String line = sc.nextLine();
            if (line.isEmpty()) continue;
            String[] f = line.split("\t", -1);
            byte[] key = unb64(f[0]);
            byte[] value = unb64(f[1]);
            Long ts = f[2].equals("-") ? null : Long.parseLong(f[2]);
            Integer part = f[3].equals("-") ? null : Integer.parseInt(f[3]);
            RecordHeaders headers = new RecordHeaders();
            if (!f[4].equals("-")) {
                for (String h : f[4].split(",")) {
                    int eq = h.indexOf(':');
                    String name = new String(Base64.getDecoder().decode(h.substring(0, eq)), StandardCharsets.UTF_8);
                    headers.add(name, unb64(h.substring(eq + 1)));
                }
            }
            records.add(new ProducerRecord<>(topic, part, ts, key, value, headers));
        }
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (ProducerRecord<byte[], byte[]> r : records) {
                try {
                    futures.add(producer.send(r));
                } catch (Exception e) {
                    futures.add(null);
                    out(err(e));
                }
            }
            producer.flush();
            for (Future<RecordMetadata> f : futures) {
                if (f == null) continue;
                try {
                    RecordMetadata m = f.get();
                    out("{\"partition\":" + m.partition() + ",\"offset\":" + m.offset()
                            + ",\"timestamp\":" + m.timestamp() + "}");
                } catch (Exception e) {
                    out(err(e));
                }
            }
        }
    }

    // ---- consume -----------------------------------------------------------
    static KafkaConsumer<byte[], byte[]> consumer(String bootstrap) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, String.valueOf(16 << 20));
        p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, String.valueOf(64 << 20));
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
        List<TopicPartition> tps = new ArrayList<>();
        for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(20))) {
            tps.add(new TopicPartition(topic, pi.partition()));
        }
        tps.sort(Comparator.comparingInt(TopicPartition::partition));
        return tps;
    }

    static void consume(String bootstrap, String[] a) {
        String topic = a[0];
        int count = Integer.parseInt(a[1]);
        long deadline = System.currentTimeMillis() + Long.parseLong(a[2]);
        int n = 0;
        try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap)) {
            List<TopicPartition> tps = partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            while (n < count && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    StringBuilder h = new StringBuilder("[");
                    for (Header hd : r.headers()) {
                        if (h.length() > 1) h.append(',');
                        h.append('[').append(q(hd.key())).append(',').append(b64(hd.value())).append(']');
                    }
                    h.append(']');
                    out("{\"partition\":" + r.partition() + ",\"offset\":" + r.offset()
                            + ",\"timestamp\":" + r.timestamp() + ",\"timestampType\":" + q(r.timestampType().name)
                            + ",\"key\":" + b64(r.key()) + ",\"value\":" + b64(r.value())
                            + ",\"headers\":" + h + "}");
                    n++;
                }
            }
        } catch (Exception e) {
            out(err(e));
        }
        out("{\"done\":true,\"count\":" + n + "}");
    }

    static void groupConsume(String bootstrap, String[] a) {
        String topic = a[0];
        long deadline = System.currentTimeMillis() + Long.parseLong(a[2]);
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, a[1]);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        p.putAll(kvs(a, 3));
        if ("consumer".equalsIgnoreCase(p.getProperty(ConsumerConfig.GROUP_PROTOCOL_CONFIG))) {
            // KIP-848: the broker owns timeouts and assignment; the client refuses these.
            p.remove(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
            p.remove(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG);
        }
        int n = 0;
        Set<Integer> last = new TreeSet<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            c.subscribe(Collections.singletonList(topic));
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    out("{\"partition\":" + r.partition() + ",\"offset\":" + r.offset() + ",\"value\":" + b64(r.value()) + "}");
                    n++;
                }
                if (!recs.isEmpty()) {
                    try {
                        c.commitSync();
                    } catch (RebalanceInProgressException e) {
                        // With a cooperative assignor poll() hands out records
                        // while a rebalance is still under way, and the client
                        // refuses to commit until a later poll() finishes it
                        // (the exception's own advice). The next commit covers
                        // these offsets; a partition revoked before then is
                        // re-read by its next owner, which the callers allow.
                    } catch (CommitFailedException e) {
                        // KIP-848 races the same way: a commit sent with the
                        // member epoch of the moment arrives after the
                        // heartbeat that bumped it (Kafka's coordinator then
                        // answers STALE_MEMBER_EPOCH and the client turns it
                        // into this exception). The member is still in the
                        // group; the next commit carries the new epoch. Any
                        // other commit failure stays fatal.
                        if (!String.valueOf(e.getMessage()).contains("stale member epoch")) throw e;
                        out("{\"commitRetriedLater\":" + q(e.getMessage()) + "}");
                    }
                }
                Set<Integer> now = new TreeSet<>();
                for (TopicPartition tp : c.assignment()) now.add(tp.partition());
                if (!now.equals(last)) {
                    last = now;
                    out("{\"assigned\":" + now + "}");
                }
            }
        } catch (Exception e) {
            out(err(e));
        }
        out("{\"done\":true,\"count\":" + n + "}");
    }

    static void offsetsForTimes(String bootstrap, String[] a) {
        String topic = a[0];
        long ts = Long.parseLong(a[1]);
        try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap)) {
            Map<TopicPartition, Long> q = new HashMap<>();
            for (TopicPartition tp : partitions(c, topic)) q.put(tp, ts);
            Map<TopicPartition, OffsetAndTimestamp> r = c.offsetsForTimes(q, Duration.ofSeconds(20));
            List<TopicPartition> keys = new ArrayList<>(r.keySet());
            keys.sort(Comparator.comparingInt(TopicPartition::partition));
            for (TopicPartition tp : keys) {
                OffsetAndTimestamp o = r.get(tp);
                out("{\"partition\":" + tp.partition() + ",\"offset\":" + (o == null ? "null" : o.offset())
                        + ",\"timestamp\":" + (o == null ? "null" : o.timestamp()) + "}");
            }
        } catch (Exception e) {
            out(err(e));
        }
    }

    // ---- admin -------------------------------------------------------------
    static Map<String, String> kvs(String[] a, int from) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = from; i < a.length; i++) {
            int eq = a[i].indexOf('=');
            m.put(a[i].substring(0, eq), a[i].substring(eq + 1));
        }
        return m;
    }

    static String ints(Collection<Node> nodes) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (Node n : nodes) j.add(String.valueOf(n.id()));
        return j.toString();
    }

    static void admin(String bootstrap, String[] a) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        try (Admin admin = Admin.create(p)) {
            switch (a[0]) {
                case "list-topics": {
                    Set<String> names = new TreeSet<>(admin.listTopics().names().get());
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (String n : names) j.add(q(n));
                    out("{\"topics\":" + j + "}");
                    break;
                }
                case "create-topic": {
                    NewTopic t = new NewTopic(a[1], Integer.parseInt(a[2]), Short.parseShort(a[3]));
                    t.configs(kvs(a, 4));
                    CreateTopicsResult r = admin.createTopics(List.of(t));
                    r.all().get();
                    out("{\"created\":" + q(a[1]) + ",\"partitions\":" + r.numPartitions(a[1]).get()
                            + ",\"replicationFactor\":" + r.replicationFactor(a[1]).get()
                            + ",\"topicId\":" + q(r.topicId(a[1]).get().toString()) + "}");
                    break;
                }
                case "create-topics-no-retry": {
                    // create-topics-no-retry PARTITIONS NAME...: each topic's outcome
                    // with retryOnQuotaViolation off (KIP-599), so a controller
                    // mutation quota's refusal reaches the caller.
                    int partitions = Integer.parseInt(a[1]);
                    List<NewTopic> topics = new ArrayList<>();
                    for (int i = 2; i < a.length; i++) topics.add(new NewTopic(a[i], partitions, (short) 1));
                    CreateTopicsResult r = admin.createTopics(topics,
                            new CreateTopicsOptions().retryOnQuotaViolation(false));
                    StringJoiner j = new StringJoiner(",", "{", "}");
                    for (int i = 2; i < a.length; i++) {
                        String outcome = "ok";
                        try {
                            r.values().get(a[i]).get();
                        } catch (ExecutionException e) {
                            Throwable c = e.getCause();
                            outcome = c.getClass().getSimpleName();
                            if (c instanceof org.apache.kafka.common.errors.ThrottlingQuotaExceededException)
                                outcome += ":" + ((org.apache.kafka.common.errors.ThrottlingQuotaExceededException) c).throttleTimeMs();
                        }
                        j.add(q(a[i]) + ":" + q(outcome));
                    }
                    out("{\"results\":" + j + "}");
                    break;
                }
                case "describe-topic": {
                    TopicDescription d = admin.describeTopics(List.of(a[1])).allTopicNames().get().get(a[1]);
                    StringJoiner parts = new StringJoiner(",", "[", "]");
                    for (TopicPartitionInfo pi : d.partitions()) {
                        parts.add("{\"partition\":" + pi.partition() + ",\"leader\":"
                                + (pi.leader() == null ? "null" : pi.leader().id())
                                + ",\"replicas\":" + ints(pi.replicas()) + ",\"isr\":" + ints(pi.isr()) + "}");
                    }
                    out("{\"name\":" + q(d.name()) + ",\"internal\":" + d.isInternal()
                            + ",\"topicId\":" + q(d.topicId().toString()) + ",\"partitions\":" + parts + "}");
                    break;
                }
                case "describe-configs": {
                    ConfigResource.Type type = a[1].equals("broker") ? ConfigResource.Type.BROKER : ConfigResource.Type.TOPIC;
                    ConfigResource res = new ConfigResource(type, a[2]);
                    Config cfg = admin.describeConfigs(List.of(res)).all().get().get(res);
                    StringJoiner j = new StringJoiner(",", "{", "}");
                    for (ConfigEntry e : cfg.entries()) {
                        j.add(q(e.name()) + ":{\"value\":" + q(e.value()) + ",\"source\":" + q(e.source().name())
                                + ",\"readOnly\":" + e.isReadOnly() + ",\"default\":" + e.isDefault()
                                + ",\"sensitive\":" + e.isSensitive() + "}");
                    }
                    out("{\"configs\":" + j + "}");
                    break;
                }
                case "alter-config": {
                    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, a[1]);
                    List<AlterConfigOp> ops = new ArrayList<>();
                    for (Map.Entry<String, String> e : kvs(a, 2).entrySet()) {
                        ops.add(new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue()), AlterConfigOp.OpType.SET));
                    }
                    admin.incrementalAlterConfigs(Map.of(res, ops)).all().get();
                    out("{\"altered\":" + q(a[1]) + "}");
                    break;
                }
                case "create-partitions": {
                    admin.createPartitions(Map.of(a[1], NewPartitions.increaseTo(Integer.parseInt(a[2])))).all().get();
                    out("{\"partitions\":" + Integer.parseInt(a[2]) + "}");
                    break;
                }
                case "delete-topic": {
                    admin.deleteTopics(List.of(a[1])).all().get();
                    out("{\"deleted\":" + q(a[1]) + "}");
                    break;
                }
                case "describe-cluster": {
                    DescribeClusterResult r = admin.describeCluster();
                    Node ctl = r.controller().get();
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (Node n : r.nodes().get()) {
                        j.add("{\"id\":" + n.id() + ",\"host\":" + q(n.host()) + ",\"port\":" + n.port() + "}");
                    }
                    out("{\"clusterId\":" + q(r.clusterId().get()) + ",\"controller\":"
                            + (ctl == null ? "null" : ctl.id()) + ",\"nodes\":" + j + "}");
                    break;
                }
                default:
                    System.err.println("unknown admin command " + a[0]);
                    System.exit(2);
            }
        } catch (Exception e) {
            out(err(e));
        }
    }
}
