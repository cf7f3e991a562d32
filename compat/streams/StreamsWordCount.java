import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TaskMetadata;
import org.apache.kafka.streams.ThreadMetadata;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * WordCount on Kafka Streams 4.4 for compat/test_streams.py (issue 15 item 4).
 *
 *   java -cp 'libs/*:classes' StreamsWordCount BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR classic|streams [key=value ...]
 *
 * Topology: INPUT (lines) -> flatMapValues(words) -> selectKey(word) -> repartition (topic
 * APP_ID-words-repartition) -> groupByKey -> count (store "counts", changelog APP_ID-counts-changelog,
 * compacted) -> OUTPUT (String word -> Long count), processing.guarantee=exactly_once_v2.
 *
 * key=value arguments go into the Streams config as given (e.g. topic.segment.bytes=...,
 * which Streams applies to the topics it creates), except:
 *   changelog.K=V   topic config K=V for the changelog topic only
 *   app.slow.ms=N   sleep N ms per word after the repartition topic, so a test can kill -9 the app mid-processing
 *   app.report.ms=N every N ms while RUNNING, print a "meta" event (below)
 *   app.query.keys=K1,K2,...  the words the "meta" event looks up
 *
 * Prints one JSON line per event on stdout: {"event":"state","state":S,"old":O},
 * {"event":"tasks","active":"0_0,1_1"} (this instance's active tasks, on each RUNNING),
 * {"event":"topology","description":...}, {"event":"error","error":...},
 * {"event":"meta","json":J} and {"event":"closed"}. J is a JSON object: "active" and
 * "standby", this instance's task ids; "clients", metadataForAllStreamsClients() as
 * [{"host":"h:p","active":["topic-0",...],"standby":[...]}]; "keys", per query key
 * {"active":"h:p","standbys":["h:p"],"partition":N,"local":COUNT or null}, where "local"
 * is the count in this instance's own copy of the store (active or standby, stale
 * stores allowed) of the key's partition. SIGTERM closes the app cleanly; exit code 0 after a clean close,
 * 1 when the app died of an error.
 */
public class StreamsWordCount {
    public static final String STORE = "counts";
    public static final String REPARTITION = "words";

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: StreamsWordCount BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR classic|streams [key=value ...]");
            System.exit(2);
        }
        String bootstrap = args[0], appId = args[1], input = args[2], output = args[3], stateDir = args[4];
        String protocol = args[5];

        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, protocol);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        // Small commit interval: each commit is a transaction, so output appears quickly
        // and a kill -9 lands with a transaction open.
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "100");
        // Purge the repartition topic (DeleteRecords) soon after each commit rather than every 30 s.
        props.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, "500");
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");

        Map<String, String> changelog = new HashMap<>();
        long slowMs = 0;
        long reportMs = 0;
        List<String> queryKeys = new ArrayList<>();
        for (int i = 6; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not key=value: " + args[i]);
                System.exit(2);
            }
            String k = args[i].substring(0, eq), v = args[i].substring(eq + 1);
            if (k.equals("app.slow.ms")) {
                slowMs = Long.parseLong(v);
            } else if (k.equals("app.report.ms")) {
                reportMs = Long.parseLong(v);
            } else if (k.equals("app.query.keys")) {
                for (String key : v.split(",")) {
                    if (!key.isEmpty()) {
                        queryKeys.add(key);
                    }
                }
            } else if (k.startsWith("changelog.")) {
                changelog.put(k.substring("changelog.".length()), v);
            } else {
                props.put(k, v);
            }
        }

        Topology topology = build(input, output, changelog, slowMs);
        emit("topology", "description", topology.describe().toString());

        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch done = new CountDownLatch(1);
        final int[] exit = {0};
        streams.setStateListener((now, old) -> {
            emit("state", "state", now.toString(), "old", old.toString());
            if (now == KafkaStreams.State.RUNNING) {
                emit("tasks", "active", activeTasks(streams));
            }
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            exit[0] = 1;
            emit("error", "error", String.valueOf(e));
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> close(streams)));
        streams.start();
        if (reportMs > 0) {
            final long every = reportMs;
            Thread reporter = new Thread(() -> {
                while (!CLOSED.get()) {
                    sleep(every);
                    if (streams.state() == KafkaStreams.State.RUNNING) {
                        try {
                            emit("meta", "json", meta(streams, queryKeys));
                        } catch (RuntimeException e) {
                            // Rebalancing: stores and metadata come and go; try again next time.
                        }
                    }
                }
            }, "reporter");
            reporter.setDaemon(true);
            reporter.start();
        }
        done.await();
        close(streams);
        System.exit(exit[0]);
    }

    private static final AtomicBoolean CLOSED = new AtomicBoolean();

    /** Closes once, whether SIGTERM (the shutdown hook) or an error (main) comes first. */
    static void close(KafkaStreams streams) {
        if (CLOSED.compareAndSet(false, true)) {
            streams.close(Duration.ofSeconds(20));
            emit("closed");
        }
    }

    /** This instance's active task ids, comma-separated (e.g. "0_0,1_1"). */
    static String activeTasks(KafkaStreams streams) {
        List<String> ids = new ArrayList<>();
        for (ThreadMetadata t : streams.metadataForLocalThreads()) {
            for (TaskMetadata task : t.activeTasks()) {
                ids.add(task.taskId().toString());
            }
        }
        Collections.sort(ids);
        return String.join(",", ids);
    }

    static Topology build(String input, String output, Map<String, String> changelog, long slowMs) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(StreamsWordCount::words)
            // groupBy spelled out (selectKey + repartition + groupByKey) so the slow step can
            // sit after the repartition topic, in the sub-topology that writes the output.
            .selectKey((key, word) -> word)
            .repartition(Repartitioned.<String, String>as(REPARTITION)
                .withKeySerde(Serdes.String())
                .withValueSerde(Serdes.String()))
            .peek((word, ignored) -> sleep(slowMs))
            .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE)
                .withKeySerde(Serdes.String())
                .withValueSerde(Serdes.Long())
                .withLoggingEnabled(changelog))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        return builder.build();
    }

    /** The "meta" event's JSON (see the class comment). */
    static String meta(KafkaStreams streams, List<String> keys) {
        List<String> active = new ArrayList<>();
        List<String> standby = new ArrayList<>();
        for (ThreadMetadata t : streams.metadataForLocalThreads()) {
            for (TaskMetadata task : t.activeTasks()) {
                active.add(quote(task.taskId().toString()));
            }
            for (TaskMetadata task : t.standbyTasks()) {
                standby.add(quote(task.taskId().toString()));
            }
        }
        List<String> clients = new ArrayList<>();
        for (StreamsMetadata m : streams.metadataForAllStreamsClients()) {
            clients.add("{\"host\":" + quote(host(m.hostInfo()))
                + ",\"active\":" + partitions(m.topicPartitions())
                + ",\"standby\":" + partitions(m.standbyTopicPartitions()) + "}");
        }
        List<String> lookups = new ArrayList<>();
        for (String key : keys) {
            KeyQueryMetadata q = streams.queryMetadataForKey(STORE, key, Serdes.String().serializer());
            List<String> standbys = new ArrayList<>();
            for (HostInfo h : q.standbyHosts()) {
                standbys.add(quote(host(h)));
            }
            Collections.sort(standbys);
            Long local = null;
            if (q.partition() >= 0) {
                try {
                    local = streams.store(StoreQueryParameters
                            .fromNameAndType(STORE, QueryableStoreTypes.<String, Long>keyValueStore())
                            .enableStaleStores()
                            .withPartition(q.partition()))
                        .get(key);
                } catch (InvalidStateStoreException e) {
                    // No local copy of that partition's store (or it is being restored).
                }
            }
            lookups.add(quote(key) + ":{\"active\":" + quote(host(q.activeHost()))
                + ",\"standbys\":[" + String.join(",", standbys) + "]"
                + ",\"partition\":" + q.partition()
                + ",\"local\":" + (local == null ? "null" : local.toString()) + "}");
        }
        Collections.sort(active);
        Collections.sort(standby);
        return "{\"active\":[" + String.join(",", active) + "],\"standby\":[" + String.join(",", standby)
            + "],\"clients\":[" + String.join(",", clients) + "],\"keys\":{" + String.join(",", lookups) + "}}";
    }

    static String host(HostInfo h) {
        return h.host() + ":" + h.port();
    }

    static String partitions(java.util.Set<TopicPartition> tps) {
        List<String> out = new ArrayList<>();
        for (TopicPartition tp : tps) {
            out.add(quote(tp.topic() + "-" + tp.partition()));
        }
        Collections.sort(out);
        return "[" + String.join(",", out) + "]";
    }

    static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        if (line == null) {
            return out;
        }
        for (String w : line.toLowerCase(Locale.ROOT).split("\\W+")) {
            if (!w.isEmpty()) {
                out.add(w);
            }
        }
        return out;
    }

    static void sleep(long ms) {
        if (ms <= 0) {
            return;
        }
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One JSON object per line: {"event":EVENT, k1:v1, ...}; values are strings. */
    static synchronized void emit(String event, String... kv) {
        StringBuilder sb = new StringBuilder("{\"event\":").append(quote(event));
        for (int i = 0; i + 1 < kv.length; i += 2) {
            sb.append(',').append(quote(kv[i])).append(':').append(quote(kv[i + 1]));
        }
        System.out.println(sb.append('}'));
        System.out.flush();
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        return sb.append('"').toString();
    }
}
