// Java kafka-clients driver for the security tests (compat/test_security_*.py).
// Every client is configured from a properties file (bootstrap.servers, security.protocol,
// ssl.*, sasl.* exactly as a Kafka user writes them); prints one JSON object per line.
//
//   SecClient PROPS produce TOPIC N PREFIX
//       sends N records (key = value = PREFIX-i) and flushes; with transactional.id in
//       PROPS inside one transaction (initTransactions, begin, send, commit).
//       Prints {"partition":P,"offset":O} per record, or {"error":Class,"message":...}
//       at the first failure (then stops).
//   SecClient PROPS consume TOPIC N TIMEOUT_MS
//       with group.id in PROPS: subscribe() and commitSync() after every poll; without:
//       assign() every partition from the beginning. Prints {"value":...} per record and
//       {"done":true,"count":N}, or {"error":...} at the first failure.
//   SecClient PROPS admin create-topic NAME PARTITIONS | describe-configs topic|broker NAME
//       | list-topics | describe-cluster
//       | authorized-ops topic|group NAME | authorized-ops cluster
//       prints {"ok":...} or {"error":...}.
// Exceptions are reported by their root cause's class (e.g. SaslAuthenticationException,
// TopicAuthorizationException), unwrapping ExecutionException / plain KafkaException.

import java.io.FileReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class SecClient {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileReader r = new FileReader(args[0])) {
            props.load(r);
        }
        String cmd = args[1];
        String[] rest = Arrays.copyOfRange(args, 2, args.length);
        try {
            switch (cmd) {
                case "produce": produce(props, rest); break;
                case "consume": consume(props, rest); break;
                case "admin": admin(props, rest); break;
                default:
                    System.err.println("unknown command " + cmd);
                    System.exit(2);
            }
        } catch (Exception e) {
            CompatClient.out(CompatClient.err(e));
        }
        System.exit(0);
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void produce(Properties p, String[] a) throws Exception {
        String topic = a[0];
        int n = Integer.parseInt(a[1]);
        String prefix = a[2];
        p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
        p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        boolean txn = p.containsKey(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            if (txn) {
                producer.initTransactions();
                producer.beginTransaction();
            }
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] v = bytes(prefix + "-" + i);
                fs.add(producer.send(new ProducerRecord<>(topic, v, v)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : fs) {
                RecordMetadata md = f.get();
                CompatClient.out("{\"partition\":" + md.partition() + ",\"offset\":" + md.offset() + "}");
            }
            if (txn) producer.commitTransaction();
        }
    }

    static void consume(Properties p, String[] a) throws Exception {
        String topic = a[0];
        int n = Integer.parseInt(a[1]);
        long deadline = System.currentTimeMillis() + Long.parseLong(a[2]);
        boolean group = p.containsKey(ConsumerConfig.GROUP_ID_CONFIG);
        p.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.putIfAbsent(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.putIfAbsent(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        int count = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            if (group) {
                c.subscribe(List.of(topic));
            } else {
                List<TopicPartition> tps = new ArrayList<>();
                for (PartitionInfo pi : c.partitionsFor(topic)) tps.add(new TopicPartition(topic, pi.partition()));
                c.assign(tps);
                c.seekToBeginning(tps);
            }
            while (count < n && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    CompatClient.out("{\"value\":" + CompatClient.q(new String(r.value(), StandardCharsets.UTF_8)) + "}");
                    count++;
                }
                if (group && !recs.isEmpty()) c.commitSync();
            }
        }
        CompatClient.out("{\"done\":true,\"count\":" + count + "}");
    }

    static void admin(Properties p, String[] a) throws Exception {
        p.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        p.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        try (Admin admin = Admin.create(p)) {
            switch (a[0]) {
                case "create-topic":
                    admin.createTopics(List.of(new NewTopic(a[1], Integer.parseInt(a[2]), (short) 1))).all().get();
                    CompatClient.out("{\"ok\":" + CompatClient.q(a[1]) + "}");
                    break;
                case "describe-configs": {
                    ConfigResource.Type t = a[1].equals("topic") ? ConfigResource.Type.TOPIC : ConfigResource.Type.BROKER;
                    ConfigResource res = new ConfigResource(t, a[2]);
                    Config cfg = admin.describeConfigs(List.of(res)).all().get().get(res);
                    CompatClient.out("{\"ok\":" + cfg.entries().size() + "}");
                    break;
                }
                case "list-topics": {
                    StringBuilder b = new StringBuilder("{\"ok\":[");
                    boolean first = true;
                    for (String name : new TreeSet<>(admin.listTopics().names().get())) {
                        if (!first) b.append(',');
                        b.append(CompatClient.q(name));
                        first = false;
                    }
                    CompatClient.out(b.append("]}").toString());
                    break;
                }
                case "describe-cluster":
                    CompatClient.out("{\"ok\":" + CompatClient.q(admin.describeCluster().clusterId().get()) + "}");
                    break;
                case "authorized-ops": {
                    // The authorizedOperations the broker computed, as the
                    // AdminClient hands them to users (null: not given).
                    Set<org.apache.kafka.common.acl.AclOperation> ops;
                    if (a[1].equals("topic")) {
                        ops = admin.describeTopics(List.of(a[2]), new DescribeTopicsOptions().includeAuthorizedOperations(true))
                                .allTopicNames().get().get(a[2]).authorizedOperations();
                    } else if (a[1].equals("group")) {
                        ops = admin.describeConsumerGroups(List.of(a[2]), new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true))
                                .all().get().get(a[2]).authorizedOperations();
                    } else {
                        ops = admin.describeCluster(new DescribeClusterOptions().includeAuthorizedOperations(true))
                                .authorizedOperations().get();
                    }
                    if (ops == null) {
                        CompatClient.out("{\"ok\":null}");
                        break;
                    }
                    StringBuilder b = new StringBuilder("{\"ok\":[");
                    boolean first = true;
                    for (String name : new TreeSet<>(ops.stream().map(Enum::name).toList())) {
                        if (!first) b.append(',');
                        b.append(CompatClient.q(name));
                        first = false;
                    }
                    CompatClient.out(b.append("]}").toString());
                    break;
                }
                default:
                    System.err.println("unknown admin command " + a[0]);
                    System.exit(2);
            }
        }
    }
}
