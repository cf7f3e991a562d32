import java.util.Locale;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Keyed records as fast as the broker takes them, for the cleaner benchmark
 * (bench/compaction.py): Kafka's ProducerPerformance sends no keys, which a
 * compacted topic refuses.
 *
 * usage: KeyedLoad bootstrap topic records record_size distinct_keys
 * Keys are "key-<n>" with n drawn uniformly (fixed seed, so both brokers get
 * the same data); acks=1, linger.ms=5, batch.size=65536, no compression.
 * Prints one JSON line: records, bytes, seconds.
 */
public final class KeyedLoad {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        long records = Long.parseLong(args[2]);
        int size = Integer.parseInt(args[3]);
        int keys = Integer.parseInt(args[4]);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("acks", "1");
        props.put("linger.ms", "5");
        props.put("batch.size", "65536");
        props.put("enable.idempotence", "false");
        Random random = new Random(42);
        byte[] value = new byte[size];
        random.nextBytes(value);
        AtomicLong failed = new AtomicLong();
        long started = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (long i = 0; i < records; i++) {
                byte[] key = ("key-" + random.nextInt(keys)).getBytes();
                producer.send(new ProducerRecord<>(topic, 0, key, value), (m, e) -> {
                    if (e != null) failed.incrementAndGet();
                });
            }
            producer.flush();
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        if (failed.get() > 0) {
            System.err.println(failed.get() + " sends failed");
            System.exit(1);
        }
        System.out.println(String.format(Locale.ROOT,
            "{\"records\": %d, \"bytes\": %d, \"seconds\": %.3f}", records, records * size, seconds));
    }
}
