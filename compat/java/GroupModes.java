// Group-coordinator failover modes of the Java kafka-clients driver (CompatClient
// dispatches here). One JSON object per line on stdout, like the rest of CompatClient.
//
//   CompatClient BOOTSTRAP group-follow TOPIC GROUP [consumer.prop=value ...]
//       subscribe() as a member of GROUP (classic, or KIP-848 with group.protocol=consumer)
//       until stdin closes; after every poll that returned records, commitSync() of the
//       positions reached. Prints
//         {"commit":{"P":OFFSET,...},"gen":G,"member":M,"t":MS}     a commit acknowledged
//         {"commitErr":CLASS,"msg":M,"gen":G,"t":MS}                   a commit that failed
//         {"pollErr":CLASS,"msg":M,"t":MS}                             poll() threw
//         {"gen":G,"member":M,"assigned":[P...],"records":N,"t":MS}   every 500 ms
//       G is groupMetadata().generationId(): the classic generation, or the KIP-848 member
//       epoch. The consumer keeps going after every error (the test judges them), and on
//       stdin's end closes (leaving the group), then prints {"done":true,"records":N}.

import java.time.Duration;
import java.util.*;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class GroupModes {
    static void groupFollow(String bootstrap, String[] a) {
        String topic = a[0];
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, a[1]);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "30000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        // A request to a dead coordinator is given up within seconds, so the client
        // looks the coordinator up again instead of waiting the default 30 s.
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "20");
        p.putAll(CompatClient.kvs(a, 2));
        if ("consumer".equalsIgnoreCase(p.getProperty(ConsumerConfig.GROUP_PROTOCOL_CONFIG))) {
            // KIP-848: the broker owns timeouts; the client refuses these.
            p.remove(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
            p.remove(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG);
        }
        AtomicBoolean stop = new AtomicBoolean(false);
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // the harness only ever closes stdin
                }
            } catch (Exception e) {
                // closed either way
            }
            stop.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        long n = 0;
        long lastStatus = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            c.subscribe(Collections.singletonList(topic));
            while (!stop.get()) {
                ConsumerRecords<byte[], byte[]> recs;
                try {
                    recs = c.poll(Duration.ofMillis(200));
                } catch (Exception e) {
                    Throwable r = CompatClient.root(e);
                    CompatClient.out("{\"pollErr\":" + CompatClient.q(r.getClass().getSimpleName()) + ",\"msg\":"
                            + CompatClient.q(String.valueOf(r.getMessage())) + ",\"t\":" + System.currentTimeMillis() + "}");
                    Thread.sleep(200);
                    continue;
                }
                n += recs.count();
                if (!recs.isEmpty()) {
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (TopicPartition tp : recs.partitions()) {
                        List<ConsumerRecord<byte[], byte[]>> l = recs.records(tp);
                        offsets.put(tp, new OffsetAndMetadata(l.get(l.size() - 1).offset() + 1));
                    }
                    int gen = c.groupMetadata().generationId();
                    try {
                        c.commitSync(offsets);
                        StringBuilder b = new StringBuilder("{\"commit\":{");
                        String sep = "";
                        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
                            b.append(sep).append('"').append(e.getKey().partition()).append("\":").append(e.getValue().offset());
                            sep = ",";
                        }
                        CompatClient.out(b.append("},\"gen\":").append(c.groupMetadata().generationId())
                                .append(",\"member\":").append(CompatClient.q(c.groupMetadata().memberId()))
                                .append(",\"t\":").append(System.currentTimeMillis()).append('}').toString());
                    } catch (Exception e) {
                        Throwable r = CompatClient.root(e);
                        CompatClient.out("{\"commitErr\":" + CompatClient.q(r.getClass().getSimpleName()) + ",\"msg\":"
                                + CompatClient.q(String.valueOf(r.getMessage())) + ",\"gen\":" + gen
                                + ",\"t\":" + System.currentTimeMillis() + "}");
                    }
                }
                long now = System.currentTimeMillis();
                if (now - lastStatus >= 500) {
                    lastStatus = now;
                    Set<Integer> assigned = new TreeSet<>();
                    for (TopicPartition tp : c.assignment()) assigned.add(tp.partition());
                    CompatClient.out("{\"gen\":" + c.groupMetadata().generationId() + ",\"member\":"
                            + CompatClient.q(c.groupMetadata().memberId()) + ",\"assigned\":" + assigned
                            + ",\"records\":" + n + ",\"t\":" + now + "}");
                }
            }
        } catch (Exception e) {
            CompatClient.out(CompatClient.err(e));
        }
        CompatClient.out("{\"done\":true,\"records\":" + n + "}");
    }
}
