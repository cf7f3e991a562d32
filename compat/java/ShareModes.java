// Share-group (KIP-932) mode of the Java kafka-clients driver (CompatClient dispatches here):
// a KafkaShareConsumer in explicit acknowledgement mode. One JSON object per line on stdout.
//
//   CompatClient BOOTSTRAP share-consume TOPIC GROUP [act:VALUE[@N]=ACTION ...] [hold.ms=MS] [renew.ms=MS]
//                [quiet=true] [run.ms=MS] [consumer.prop=value ...]
//       subscribe() to TOPIC as a member of share group GROUP, poll until stdin closes (or
//       run.ms passes), and acknowledge every record one by one (share.acknowledgement.mode=
//       explicit), then commitSync() after each poll. The action for a record whose value
//       (UTF-8) is VALUE is ACTION (accept | release | reject | hold | renew); with @N only on its
//       N-th delivery. Every other record is accepted. "hold" leaves the record acquired
//       without acknowledging it for hold.ms (the member keeps heartbeating but stops
//       polling), then accepts it late; the broker has given it back by then when hold.ms is
//       past the record lock duration, and refuses the late acknowledgement. "renew"
//       (KIP-1222) acknowledges the record with AcknowledgeType.RENEW, commits, and waits
//       renew.ms (default 1000) before polling on; the client hands a renewed record back on
//       a later poll, where it is renewed again until hold.ms have passed since it was first
//       seen, then accepted (the printed ack says which: "renew" or "accept").
//       Prints
//         {"ready":true,"t":MS}                                 subscribed, before the first poll
//         {"partition":P,"offset":O,"deliveryCount":D,"key":B64|null,"value":B64|null,"ack":A}
//                                                               per record, A = the action taken
//         {"commit":{"P":"ok"|EXCEPTION,...},"late":BOOL}       commitSync()'s per-partition result
//                                                               (late: the held records' acks)
//         {"pollErr":CLASS,"msg":M}                             poll() threw (the member goes on)
//         {"lockMs":MS}                                         the broker's lock duration, once known
//         {"count":N,"t":MS}                                    every 500 ms with quiet=true, which
//                                                               prints no per-record lines (benchmarks)
//       and on stdin's end closes the consumer (leaving the group), then {"done":true,"count":N}.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ShareModes {
    /** What to do with one record: the rules are matched by value, optionally by delivery count. */
    static final class Rules {
        final Map<String, String> always = new HashMap<>();
        final Map<String, String> onDelivery = new HashMap<>();

        void add(String spec) {
            int eq = spec.lastIndexOf('=');
            String what = spec.substring(0, eq);
            String action = spec.substring(eq + 1);
            if (!Set.of("accept", "release", "reject", "hold", "renew").contains(action)) {
                throw new IllegalArgumentException("unknown action " + action);
            }
            int at = what.lastIndexOf('@');
            if (at >= 0) onDelivery.put(what, action);
            else always.put(what, action);
        }

        String actionFor(ConsumerRecord<byte[], byte[]> r, int delivery) {
            String v = r.value() == null ? "" : new String(r.value(), StandardCharsets.UTF_8);
            String a = onDelivery.get(v + "@" + delivery);
            if (a != null) return a;
            return always.getOrDefault(v, "accept");
        }
    }

    static AcknowledgeType ackType(String action) {
        switch (action) {
            case "release": return AcknowledgeType.RELEASE;
            case "reject": return AcknowledgeType.REJECT;
            default: return AcknowledgeType.ACCEPT;
        }
    }

    static AtomicBoolean stopOnStdinEnd() {
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
        return stop;
    }

    static void printCommit(Map<TopicIdPartition, Optional<KafkaException>> result, boolean late) {
        if (result.isEmpty()) return;
        StringJoiner j = new StringJoiner(",", "{", "}");
        for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : result.entrySet()) {
            String outcome = e.getValue().map(x -> x.getClass().getSimpleName()).orElse("ok");
            j.add("\"" + e.getKey().partition() + "\":" + CompatClient.q(outcome));
        }
        CompatClient.out("{\"commit\":" + j + ",\"late\":" + late + "}");
    }

    static void shareConsume(String bootstrap, String[] a) throws Exception {
        String topic = a[0];
        Rules rules = new Rules();
        long holdMs = 0;
        long renewMs = 1000;
        long runMs = Long.MAX_VALUE;
        boolean quiet = false;
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, a[1]);
        p.put("share.acknowledgement.mode", "explicit");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        for (Map.Entry<String, String> e : CompatClient.kvs(a, 2).entrySet()) {
            String k = e.getKey();
            if (k.startsWith("act:")) rules.add(k.substring(4) + "=" + e.getValue());
            else if (k.equals("hold.ms")) holdMs = Long.parseLong(e.getValue());
            else if (k.equals("renew.ms")) renewMs = Long.parseLong(e.getValue());
            else if (k.equals("run.ms")) runMs = Long.parseLong(e.getValue());
            else if (k.equals("quiet")) quiet = Boolean.parseBoolean(e.getValue());
            else p.put(k, e.getValue());
        }
        AtomicBoolean stop = stopOnStdinEnd();
        long deadline = runMs == Long.MAX_VALUE ? Long.MAX_VALUE : System.currentTimeMillis() + runMs;
        long n = 0;
        long lastCount = 0;
        boolean lockShown = false;
        // When each record to renew was first seen (partition:offset).
        Map<String, Long> renewingSince = new HashMap<>();
        try (KafkaShareConsumer<byte[], byte[]> c =
                     new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            c.subscribe(List.of(topic));
            CompatClient.out("{\"ready\":true,\"t\":" + System.currentTimeMillis() + "}");
            while (!stop.get() && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs;
                try {
                    recs = c.poll(Duration.ofMillis(200));
                } catch (Exception e) {
                    Throwable r = CompatClient.root(e);
                    CompatClient.out("{\"pollErr\":" + CompatClient.q(r.getClass().getSimpleName()) + ",\"msg\":"
                            + CompatClient.q(String.valueOf(r.getMessage())) + "}");
                    Thread.sleep(200);
                    continue;
                }
                if (!lockShown && c.acquisitionLockTimeoutMs().isPresent()) {
                    lockShown = true;
                    CompatClient.out("{\"lockMs\":" + c.acquisitionLockTimeoutMs().get() + "}");
                }
                List<ConsumerRecord<byte[], byte[]>> held = new ArrayList<>();
                boolean renewed = false;
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    int delivery = r.deliveryCount().map(Short::intValue).orElse(-1);
                    String action = rules.actionFor(r, delivery);
                    if (action.equals("renew")) {
                        long since = renewingSince.computeIfAbsent(r.partition() + ":" + r.offset(),
                                k -> System.currentTimeMillis());
                        action = System.currentTimeMillis() - since < holdMs ? "renew" : "accept";
                    }
                    if (action.equals("hold")) held.add(r);
                    else if (action.equals("renew")) {
                        c.acknowledge(r, AcknowledgeType.RENEW);
                        renewed = true;
                    } else c.acknowledge(r, ackType(action));
                    n++;
                    if (!quiet) {
                        CompatClient.out("{\"partition\":" + r.partition() + ",\"offset\":" + r.offset()
                                + ",\"deliveryCount\":" + delivery + ",\"key\":" + CompatClient.b64(r.key())
                                + ",\"value\":" + CompatClient.b64(r.value()) + ",\"ack\":" + CompatClient.q(action) + "}");
                    }
                }
                if (!recs.isEmpty()) printCommit(c.commitSync(), false);
                if (renewed) {
                    long until = System.currentTimeMillis() + renewMs;
                    while (!stop.get() && System.currentTimeMillis() < until) Thread.sleep(50);
                }
                if (!held.isEmpty()) {
                    long until = System.currentTimeMillis() + holdMs;
                    while (!stop.get() && System.currentTimeMillis() < until) Thread.sleep(50);
                    for (ConsumerRecord<byte[], byte[]> r : held) c.acknowledge(r, AcknowledgeType.ACCEPT);
                    printCommit(c.commitSync(), true);
                }
                long now = System.currentTimeMillis();
                if (quiet && now - lastCount >= 500) {
                    lastCount = now;
                    CompatClient.out("{\"count\":" + n + ",\"t\":" + now + "}");
                }
            }
        } catch (Exception e) {
            CompatClient.out(CompatClient.err(e));
        }
        CompatClient.out("{\"done\":true,\"count\":" + n + "}");
    }
}
