// Fault-test modes of the Java kafka-clients driver (CompatClient dispatches here).
// One JSON object per line on stdout, like the rest of CompatClient.
//
//   CompatClient BOOTSTRAP fault-produce TOPIC PARTITIONS RATE PREFIX MAX_MS [producer.prop=value ...]
//       An idempotent producer (enable.idempotence=true, acks=all, 5 in flight) sends
//       values PREFIX-<seq> (key = value) to partition seq % PARTITIONS at RATE records/s
//       until stdin closes (or MAX_MS passes), then flushes and closes.
//       Prints per record, when its callback runs:
//         {"v":V,"seq":S,"p":P,"o":O,"ts":SEND_MS,"tc":ACK_MS}             acknowledged
//         {"v":V,"seq":S,"p":P,"err":CLASS,"msg":M,"ts":SEND_MS,"tc":MS}    failed
//       then {"done":true,"sent":N}. A record with no line had no outcome (indeterminate).
//       Wall-clock milliseconds, so the harness can line them up with the faults it injects.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class FaultModes {
    static void faultProduce(String bootstrap, String[] a) throws Exception {
        String topic = a[0];
        int partitions = Integer.parseInt(a[1]);
        double rate = Double.parseDouble(a[2]);
        String prefix = a[3];
        long maxMs = Long.parseLong(a[4]);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        // Short request timeout so a request to a dead or cut-off leader is retried
        // against the new one within seconds; the delivery timeout bounds the retries.
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "50");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
        p.putAll(CompatClient.kvs(a, 5));
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
        long start = System.currentTimeMillis();
        long seq = 0;
        double next = start;
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            while (!stop.get() && System.currentTimeMillis() - start < maxMs) {
                long now = System.currentTimeMillis();
                if (now < next) {
                    Thread.sleep(Math.max(1, (long) (next - now)));
                    continue;
                }
                // A blocked send() (no metadata) must not be followed by a burst.
                next = Math.max(next + 1000.0 / rate, now);
                long s = seq++;
                int part = (int) (s % partitions);
                String v = prefix + "-" + s;
                byte[] b = v.getBytes(StandardCharsets.UTF_8);
                long ts = System.currentTimeMillis();
                String head = "{\"v\":" + CompatClient.q(v) + ",\"seq\":" + s + ",\"p\":" + part;
                try {
                    producer.send(new ProducerRecord<>(topic, part, b, b), (m, e) -> {
                        long tc = System.currentTimeMillis();
                        if (e == null) {
                            CompatClient.out(head + ",\"o\":" + m.offset() + ",\"ts\":" + ts + ",\"tc\":" + tc + "}");
                        } else {
                            Throwable r = CompatClient.root(e);
                            CompatClient.out(head + ",\"err\":" + CompatClient.q(r.getClass().getSimpleName())
                                    + ",\"msg\":" + CompatClient.q(String.valueOf(r.getMessage()))
                                    + ",\"ts\":" + ts + ",\"tc\":" + tc + "}");
                        }
                    });
                } catch (Exception e) {
                    Throwable r = CompatClient.root(e);
                    CompatClient.out(head + ",\"err\":" + CompatClient.q(r.getClass().getSimpleName())
                            + ",\"msg\":" + CompatClient.q(String.valueOf(r.getMessage()))
                            + ",\"ts\":" + ts + ",\"tc\":" + System.currentTimeMillis() + "}");
                }
            }
            producer.flush();
            producer.close(Duration.ofSeconds(30));
        }
        CompatClient.out("{\"done\":true,\"sent\":" + seq + "}");
    }
}
