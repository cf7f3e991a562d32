// MirrorMaker 2's client library (connect-mirror-client) against the target cluster, for
// compat/test_mirrormaker.py. Prints one JSON object.
//
//   MirrorClient TARGET_BOOTSTRAP SOURCE_ALIAS GROUP
//       {"upstream_clusters":[...], "hops":N,
//        "offsets":[{"topic":T,"partition":P,"offset":O}, ...]}
//       upstream_clusters: RemoteClusterUtils.upstreamClusters (from the heartbeats topics);
//       hops: RemoteClusterUtils.replicationHops to SOURCE_ALIAS;
//       offsets: RemoteClusterUtils.translateOffsets of GROUP (from SOURCE_ALIAS.checkpoints.internal).

import java.time.Duration;
import java.util.*;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;

public class MirrorClient {
    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    public static void main(String[] args) throws Exception {
        Map<String, Object> props = new HashMap<>();
        props.put("bootstrap.servers", args[0]);
        String source = args[1];
        String group = args[2];
        Set<String> upstream = RemoteClusterUtils.upstreamClusters(props);
        int hops = RemoteClusterUtils.replicationHops(props, source);
        Map<TopicPartition, OffsetAndMetadata> offsets =
                RemoteClusterUtils.translateOffsets(props, source, group, Duration.ofSeconds(30));
        StringBuilder out = new StringBuilder("{\"upstream_clusters\":[");
        List<String> names = new ArrayList<>(upstream);
        Collections.sort(names);
        for (int i = 0; i < names.size(); i++) {
            out.append(i == 0 ? "" : ",").append(q(names.get(i)));
        }
        out.append("],\"hops\":").append(hops).append(",\"offsets\":[");
        boolean first = true;
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            out.append(first ? "" : ",").append("{\"topic\":").append(q(e.getKey().topic()))
                    .append(",\"partition\":").append(e.getKey().partition())
                    .append(",\"offset\":").append(e.getValue().offset()).append("}");
            first = false;
        }
        System.out.println(out.append("]}"));
    }
}
