import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Consumer throughput without consumer groups (bench/run.sh).
 *
 * Kafka's own ConsumerPerformance always subscribe()s, i.e. needs the group
 * coordinator, which Gregor does not have yet. This tool does what it does
 * for the fetch path only: assign() every partition of the topic, seek to the
 * beginning, poll with default consumer settings until the expected number of
 * records has arrived, and report records/s and MB/s (MB = 2^20 bytes, key +
 * value bytes, as ConsumerPerformance counts them).
 *
 * usage: AssignConsumerPerf bootstrap topic expected_records [timeout_ms] [key=value ...]
 * prints one JSON line.
 */
public final class AssignConsumerPerf {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: AssignConsumerPerf bootstrap topic expected_records [timeout_ms] [key=value ...]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        long expected = Long.parseLong(args[2]);
        long timeoutMs = args.length > 3 ? Long.parseLong(args[3]) : 60_000L;

        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("client.id", "bench-assign-consumer");
        for (int i = 4; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }

        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> tps = new ArrayList<>();
            long deadline = System.currentTimeMillis() + timeoutMs;
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofMillis(timeoutMs));
            for (PartitionInfo p : infos) tps.add(new TopicPartition(topic, p.partition()));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);

            long records = 0;
            long bytes = 0;
            long start = System.nanoTime();
            long lastData = start;
            while (records < expected && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(100));
                if (batch.isEmpty()) {
                    // give up after 10 s without any data: something is wrong
                    if (System.nanoTime() - lastData > 10_000_000_000L) break;
                    continue;
                }
                lastData = System.nanoTime();
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    records++;
                    if (r.key() != null) bytes += r.key().length;
                    if (r.value() != null) bytes += r.value().length;
                }
            }
            double secs = (System.nanoTime() - start) / 1e9;
            double mb = bytes / (1024.0 * 1024.0);
            System.out.println(String.format(Locale.ROOT,
                "{\"records\": %d, \"expected\": %d, \"bytes\": %d, \"secs\": %.4f, \"rec_per_s\": %.1f, \"mb_per_s\": %.3f, \"partitions\": %d, \"complete\": %s}",
                records, expected, bytes, secs, records / secs, mb / secs, tps.size(), records >= expected));
            if (records < expected) System.exit(1);
        }
    }
}
