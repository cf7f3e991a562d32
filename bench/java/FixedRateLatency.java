import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * End-to-end latency at a fixed rate (bench/run.sh).
 *
 * Kafka's EndToEndLatency (also run by the harness) is closed loop: one record
 * in flight, commitSync() after each, whole-millisecond percentiles. It cannot
 * measure a broker under a steady load well below saturation, which is what
 * this tool does. It is open loop: a producer thread
 * sends `rate` records/s to partition 0 (linger.ms=0), each value starting with
 * System.nanoTime() at send; a consumer in the same JVM, assign()ed to
 * partition 0 from the end with default fetch settings (fetch.min.bytes=1,
 * fetch.max.wait.ms=500, i.e. the broker's long-poll must wake it), records
 * receive - send. Records sent during the first `warmup_s` seconds are not
 * counted.
 *
 * usage: FixedRateLatency bootstrap topic acks rate_per_s duration_s record_size warmup_s [key=value ...]
 * (key=value pairs go to both producer and consumer configs; prefix with p. or c. for one side)
 * prints one JSON line with avg/p50/p99/p99.9/max in ms.
 */
public final class FixedRateLatency {
    public static void main(String[] args) throws Exception {
        if (args.length < 7) {
            System.err.println("usage: FixedRateLatency bootstrap topic acks rate_per_s duration_s record_size warmup_s [key=value ...]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        String acks = args[2];
        int rate = Integer.parseInt(args[3]);
        int durationS = Integer.parseInt(args[4]);
        int size = Math.max(8, Integer.parseInt(args[5]));
        int warmupS = Integer.parseInt(args[6]);

        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("key.serializer", ByteArraySerializer.class.getName());
        pp.put("value.serializer", ByteArraySerializer.class.getName());
        pp.put("acks", acks);
        pp.put("linger.ms", "0");
        pp.put("client.id", "bench-latency-producer");
        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("key.deserializer", ByteArrayDeserializer.class.getName());
        cp.put("value.deserializer", ByteArrayDeserializer.class.getName());
        cp.put("enable.auto.commit", "false");
        cp.put("client.id", "bench-latency-consumer");
        for (int i = 7; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            String k = args[i].substring(0, eq);
            String v = args[i].substring(eq + 1);
            if (k.startsWith("p.")) pp.put(k.substring(2), v);
            else if (k.startsWith("c.")) cp.put(k.substring(2), v);
            else { pp.put(k, v); cp.put(k, v); }
        }

        long total = (long) rate * (durationS + warmupS);
        long warmupCount = (long) rate * warmupS;
        long[] lat = new long[(int) (total - warmupCount)];
        AtomicLong received = new AtomicLong();
        AtomicLong measured = new AtomicLong();
        AtomicBoolean producerDone = new AtomicBoolean();
        AtomicLong sendErrors = new AtomicLong();

        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp);
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
            List<TopicPartition> tps = Collections.singletonList(tp);
            consumer.assign(tps);
            consumer.seekToEnd(tps);
            consumer.position(tp); // resolve the end offset before the first send
            // make sure the producer has metadata before the clock starts
            producer.partitionsFor(topic);

            Thread sender = new Thread(() -> {
                long intervalNs = 1_000_000_000L / rate;
                long next = System.nanoTime();
                for (long i = 0; i < total; i++) {
                    long now;
                    while ((now = System.nanoTime()) < next) {
                        LockSupport.parkNanos(next - now);
                    }
                    byte[] v = new byte[size];
                    ByteBuffer b = ByteBuffer.wrap(v);
                    b.putLong(System.nanoTime());
                    producer.send(new ProducerRecord<>(topic, 0, null, v), (md, e) -> {
                        if (e != null) sendErrors.incrementAndGet();
                    });
                    next += intervalNs;
                }
                producer.flush();
                producerDone.set(true);
            }, "sender");
            sender.start();

            long idleSince = -1;
            while (received.get() < total) {
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
                long now = System.nanoTime();
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    long sent = ByteBuffer.wrap(r.value()).getLong();
                    long idx = received.getAndIncrement();
                    if (idx >= warmupCount) {
                        long m = measured.getAndIncrement();
                        if (m < lat.length) lat[(int) m] = now - sent;
                    }
                }
                if (recs.isEmpty() && producerDone.get()) {
                    if (idleSince < 0) idleSince = now;
                    else if (now - idleSince > 5_000_000_000L) break; // lost records
                } else {
                    idleSince = -1;
                }
            }
            sender.join();

            int n = (int) Math.min(measured.get(), lat.length);
            long[] s = Arrays.copyOf(lat, n);
            Arrays.sort(s);
            double sum = 0;
            for (long x : s) sum += x;
            System.out.println(String.format(Locale.ROOT,
                "{\"rate\": %d, \"size\": %d, \"acks\": \"%s\", \"sent\": %d, \"received\": %d, \"measured\": %d, \"send_errors\": %d, "
                    + "\"avg_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f}",
                rate, size, acks, total, received.get(), n, sendErrors.get(),
                n == 0 ? 0 : sum / n / 1e6, pct(s, 0.50), pct(s, 0.99), pct(s, 0.999), n == 0 ? 0 : s[n - 1] / 1e6));
            if (received.get() < total) System.exit(1);
        }
    }

    private static double pct(long[] sorted, double q) {
        if (sorted.length == 0) return 0;
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }
}
