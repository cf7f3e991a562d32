import java.io.FileInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.ApiVersions;
import org.apache.kafka.clients.ClientUtils;
import org.apache.kafka.clients.ManualMetadataUpdater;
import org.apache.kafka.clients.MetadataRecoveryStrategy;
import org.apache.kafka.clients.BootstrapConfiguration;
import org.apache.kafka.clients.NetworkClient;
import org.apache.kafka.clients.NetworkClientUtils;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.metrics.Metrics;
import org.apache.kafka.common.network.ChannelBuilder;
import org.apache.kafka.common.network.Selector;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.internals.LogContext;

/**
 * Connection set-up rate (bench/run.sh, issue 14).
 *
 * Each iteration opens one connection with kafka-clients' own network layer
 * (the ChannelBuilder every Java client builds from its security settings,
 * a Selector and a NetworkClient), waits until NetworkClient calls it ready
 * and closes it. "Ready" means: TCP connect, the TLS handshake (SSL /
 * SASL_SSL), SaslHandshake + SaslAuthenticate (SCRAM: client-first,
 * server-first, client-final, server-final) for SASL_*, then one
 * ApiVersions request answered, exactly what a producer or consumer does
 * before its first real request. An Admin client per iteration would open
 * two connections (bootstrap, then the broker node) and build a whole client.
 *
 * `threads` workers run in parallel, each with its own NetworkClient, until
 * `connections` connections (after `warmup` unrecorded ones per worker, for
 * the JIT) have been set up; the program prints one JSON line: connections/s
 * over the measured part and per-connection set-up latency percentiles.
 * A failed connection (authentication, TLS, timeout) aborts the run.
 *
 * usage: ConnectRate host:port connections threads warmup [client.properties]
 */
public final class ConnectRate {
    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: ConnectRate host:port connections threads warmup [client.properties]");
            System.exit(2);
        }
        String[] hp = args[0].split(":");
        String host = hp[0];
        int port = Integer.parseInt(hp[1]);
        int connections = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        int warmup = Integer.parseInt(args[3]);
        Properties props = new Properties();
        if (args.length > 4) {
            try (InputStream in = new FileInputStream(args[4])) {
                props.load(in);
            }
        }
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        AdminClientConfig config = new AdminClientConfig(props);

        Worker[] workers = new Worker[threads];
        for (int t = 0; t < threads; t++) {
            int share = connections / threads + (t < connections % threads ? 1 : 0);
            workers[t] = new Worker(config, host, port, t, warmup, share);
        }
        // Every worker warms up first; the clock starts once all are done.
        for (Worker w : workers) w.start();
        for (Worker w : workers) w.warmedUp.acquire();
        long t0 = System.nanoTime();
        for (Worker w : workers) w.go.release();
        for (Worker w : workers) w.join();
        long t1 = System.nanoTime();
        List<Long> lat = new ArrayList<>();
        for (Worker w : workers) {
            if (w.failure.get() != null) {
                String msg = w.failure.get().toString().replaceAll("[\"\\\\\\p{Cntrl}]", " ");
                System.out.println("{\"error\": \"" + msg + "\"}");
                System.exit(1);
            }
            lat.addAll(w.latencies);
        }
        long[] l = lat.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(l);
        double seconds = (t1 - t0) / 1e9;
        System.out.println(String.format(Locale.ROOT,
            "{\"connections\": %d, \"warmup_connections\": %d, \"threads\": %d, \"seconds\": %.3f, \"conn_per_s\": %.1f, "
                + "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, \"security_protocol\": \"%s\"}",
            l.length, warmup * threads, threads, seconds, l.length / seconds, pct(l, 0.50), pct(l, 0.99),
            l.length == 0 ? 0.0 : l[l.length - 1] / 1e6,
            config.getString("security.protocol")));
    }

    static double pct(long[] sorted, double q) {
        if (sorted.length == 0) return 0.0;
        int i = (int) Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
        return sorted[Math.max(0, i)] / 1e6;
    }

    static final class Worker extends Thread {
        final AdminClientConfig config;
        final String host;
        final int port;
        final int index;
        final int warmup;
        final int count;
        final List<Long> latencies = new ArrayList<>();
        final java.util.concurrent.Semaphore warmedUp = new java.util.concurrent.Semaphore(0);
        final java.util.concurrent.Semaphore go = new java.util.concurrent.Semaphore(0);
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Worker(AdminClientConfig config, String host, int port, int index, int warmup, int count) {
            this.config = config;
            this.host = host;
            this.port = port;
            this.index = index;
            this.warmup = warmup;
            this.count = count;
            setName("connect-" + index);
        }

        @Override
        public void run() {
            boolean released = false;
            Time time = Time.SYSTEM;
            LogContext log = new LogContext("[connect-" + index + "] ");
            try (Metrics metrics = new Metrics()) {
                ChannelBuilder channels = ClientUtils.createChannelBuilder(config, time, log);
                Selector selector = new Selector(60_000L, metrics, time, "bench-connect", channels, log);
                try (NetworkClient client = new NetworkClient(selector, new ManualMetadataUpdater(), "bench-connect-" + index,
                        1, 0L, 0L, 128 * 1024, 64 * 1024, 60_000, 30_000L, 60_000L, time, true, new ApiVersions(), log,
                        MetadataRecoveryStrategy.NONE, BootstrapConfiguration.DISABLED, false)) {
                    for (int i = 0; i < warmup; i++) connectOnce(client, time, i);
                    warmedUp.release();
                    released = true;
                    go.acquire();
                    for (int i = 0; i < count; i++) {
                        long t0 = System.nanoTime();
                        connectOnce(client, time, warmup + i);
                        latencies.add(System.nanoTime() - t0);
                    }
                }
            } catch (Throwable e) {
                failure.set(e);
            } finally {
                if (!released) warmedUp.release();
            }
        }

        // A fresh node id per connection, so no state (back-off, API versions)
        // carries over from the previous one.
        void connectOnce(NetworkClient client, Time time, int i) throws Exception {
            Node node = new Node(1_000_000 + i, host, port);
            if (!NetworkClientUtils.awaitReady(client, node, time, 60_000)) {
                throw new IllegalStateException("connection " + i + " not ready after 60 s");
            }
            client.close(node.idString());
        }
    }
}
